"""How the stack runs: the `pgstack` command line, the embedded Postgres, the migrations."""
