"""The one test kit every test and benchmark uses, imported as `tests.kit.<module>`:

- `databases`: throwaway databases, copies of the migrated template;
- `users`: users made with SQL; `passports`: the test key, its JWKS and minted passports;
- `waiting`: `eventually` (async) and `wait_for` (sync), the one way to wait for a state;
- `jobs`: enqueueing as a service does, job rows; `workers`: the real worker in-process or
  as processes;
- `servers`: an app in-process or over real HTTP; `stack`: `pgstack dev` and Chromium.
- `processes`: a private cluster, the services and workers as `pgstack` processes, people
  using them over HTTP (the fault tests and `make soak`).

The embedded cluster's crash-and-restart is `EmbeddedPostgres.restart()` itself.
"""
