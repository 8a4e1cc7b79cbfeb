"""The one test kit every test and benchmark uses: users, passports, waiting, jobs, workers,
the embedded cluster and the running stack. Imported as `tests.kit.<module>`."""
