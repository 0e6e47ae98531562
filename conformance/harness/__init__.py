"""The conformance harness every suite shares: checks and suites, target files, the runner, reports."""
