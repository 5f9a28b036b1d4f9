# The Slurm cluster test (tests/slurm_cluster.sh), in `tests/run.sh --long`.
exec bash "$(dirname "$0")/slurm_cluster.sh" "${MS_BUILD_DIR:-}"
