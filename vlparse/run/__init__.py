"""Running a job: the pipeline, tasks and retries, resume state, output planning, progress, atomic writes,
and the ``doc`` / ``ground`` / ``render`` jobs built from them."""
