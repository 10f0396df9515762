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


# RNA-seq series: series matrix (phenotypes) + NCBI-computed raw counts + gene annotation.
rule geo_rnaseq_download:
    output:
        matrix=f"{GEO_CACHE}/{{accession}}/rnaseq/series_matrix.txt.gz",
        counts=f"{GEO_CACHE}/{{accession}}/rnaseq/counts.tsv.gz",
        annotation=f"{GEO_CACHE}/{{accession}}/rnaseq/annotation.tsv.gz",
        checksums=f"{GEO_CACHE}/{{accession}}/rnaseq/checksums.tsv",
    log:
        f"{LOGS}/resources/geo_rnaseq_{{accession}}.log",
    benchmark:
        f"{LOGS}/benchmarks/geo_rnaseq_download/{{accession}}.tsv"
    wildcard_constraints:
        accession=r"GSE\d+",
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        accession=lambda w: w.accession,
        settings=lambda w, output: geo_fetch_settings(
            str(Path(output.matrix).parents[2])
        ),
    script:
        "../scripts/resources_geo_rnaseq.py"


# Source `soft` / `gds` given by accession: the family SOFT file (GSE) or the GDS SOFT file.
rule geo_soft_download:
    output:
        soft=f"{GEO_CACHE}/{{accession}}/soft/{{accession}}.soft.gz",
        checksums=f"{GEO_CACHE}/{{accession}}/soft/checksums.tsv",
    log:
        f"{LOGS}/resources/geo_soft_{{accession}}.log",
    benchmark:
        f"{LOGS}/benchmarks/geo_soft_download/{{accession}}.tsv"
    wildcard_constraints:
        accession=r"G(SE|DS)\d+",
    conda:
        "../../envs/markerflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        accession=lambda w: w.accession,
        settings=lambda w, output: geo_fetch_settings(str(Path(output.soft).parents[2])),
    script:
        "../scripts/resources_geo_soft.py"
