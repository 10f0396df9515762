"""R-exact numerics shared by the engines: ports of R routines that scipy does not reproduce bit for bit."""
