# Downloads into the resources/ cache (GEO series matrices and platform tables).
# A download is checked against resources/geo/<key>/manifest.json and never repeated once cached.


rule geo_download:
    output:
        matrix=f"{GEO_CACHE}/{{accession}}/series_matrix.txt.gz",
        annotation=f"{GEO_CACHE}/{{accession}}/annotation.tsv.gz",
        checksums=f"{GEO_CACHE}/{{accession}}/checksums.tsv",
    log:
        f"{LOGS}/resources/geo_{{accession}}.log",
    benchmark:
        f"{LOGS}/benchmarks/geo_download/{{accession}}.tsv"
    wildcard_constraints:
        accession=r"GSE\d+(-GPL\d+)?",
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        accession=lambda w: w.accession.split("-")[0],
        platform=lambda w: (w.accession.split("-") + [None])[1],
        symbol_column=lambda w: GEO["symbol_columns"].get(
            (w.accession.split("-") + [None])[1] or "", None
        ),
        base_url=GEO["base_url"],
        retries=GEO["retries"],
        timeout_s=GEO["timeout_s"],
        backoff_s=GEO["backoff_s"],
        deadline_s=GEO["deadline_s"],
        min_rate_bytes_s=GEO["min_rate_bytes_s"],
        cache_dir=lambda w, output: str(Path(output.matrix).parents[1]),
    script:
        "../scripts/resources_geo.py"
