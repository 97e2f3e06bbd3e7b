#!/usr/bin/env python3
"""Run the llmc integration test suite.

Usage: tests/integration/run.py [-k PATTERN]... [--leave-out ID]...
                                [--leave-out-file FILE]... [TEST_ID]...

  TEST_ID      e.g. test_chat.StreamTests or test_chat.StreamTests.test_eol_cr
  -k           only run tests whose name matches PATTERN (unittest semantics)
  --leave-out  do not load the tests whose id starts with ID (module, class
               or test); they are neither run nor counted
  --leave-out-file
               the same for each ID in FILE, one a line (blank lines and
               lines starting with # are skipped)

Environment: LLMC_CHAT overrides the CLI path (default build/llmc-chat).

The last line printed is "integration: N passed, M failed". A skipped test
counts as failed unless its skip reason starts with "documented: "
(harness.DOCUMENTED_SKIP); such tests are reported separately and count as
neither. Exit status is 0 only if nothing failed and at least one test passed.
"""

import argparse
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402


class CountingResult(unittest.TextTestResult):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passed_ids = set()
        self.failed_ids = set()
        self.documented_skips = []
        self.undocumented_skips = []

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed_ids.add(test.id())

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.failed_ids.add(test.id())

    def addError(self, test, err):
        super().addError(test, err)
        self.failed_ids.add(test.id())

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.failed_ids.add(test.id())

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.failed_ids.add(test.id())

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.passed_ids.add(test.id())

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if reason.startswith(harness.DOCUMENTED_SKIP):
            self.documented_skips.append((test.id(), reason))
        else:
            self.undocumented_skips.append((test.id(), reason))


def iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iter_tests(t)
        else:
            yield t


def main():
    ap = argparse.ArgumentParser(description="llmc integration tests")
    ap.add_argument("-k", dest="patterns", action="append", default=[],
                    help="only run tests matching this pattern")
    ap.add_argument("--leave-out", dest="leave_out", action="append",
                    default=[], metavar="ID",
                    help="do not load tests whose id starts with ID")
    ap.add_argument("--leave-out-file", dest="leave_out_files",
                    action="append", default=[], metavar="FILE",
                    help="--leave-out each ID in FILE, one a line")
    ap.add_argument("tests", nargs="*",
                    help="test ids (default: every test_*.py in this directory)")
    args = ap.parse_args()
    for name in args.leave_out_files:  # before the chdir: caller's paths
        with open(name) as f:
            args.leave_out += [x.strip() for x in f
                               if x.strip() and not x.startswith("#")]

    os.chdir(HERE)
    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [p if "*" in p else "*%s*" % p
                                   for p in args.patterns]
    if args.tests:
        suite = loader.loadTestsFromNames(args.tests)
    else:
        suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    if args.leave_out:
        suite = unittest.TestSuite(
            t for t in iter_tests(suite)
            if not any(t.id() == x or t.id().startswith(x + ".")
                       for x in args.leave_out))
    all_ids = [t.id() for t in iter_tests(suite)]

    print("llmc-chat: %s%s" % (harness.chat_binary(),
                               "" if os.access(harness.chat_binary(), os.X_OK)
                               else " (missing)"))
    sys.stdout.flush()
    runner = unittest.TextTestRunner(verbosity=2, resultclass=CountingResult,
                                     stream=sys.stdout)
    result = runner.run(suite)

    documented = {tid for tid, _ in result.documented_skips}
    passed = len([t for t in all_ids
                  if t in result.passed_ids and t not in result.failed_ids])
    # Anything that neither passed nor was skipped for a documented reason
    # is a failure, including tests that never ran because a class fixture
    # failed.
    failed = len([t for t in all_ids
                  if not (t in result.passed_ids and t not in result.failed_ids)
                  and t not in documented])
    if result.undocumented_skips:
        print("skipped without a documented reason (counted as failed):")
        for tid, reason in result.undocumented_skips:
            print("  %s: %s" % (tid, reason))
    if documented:
        print("skipped for a documented reason (not counted):")
        for tid, reason in result.documented_skips:
            print("  %s: %s" % (tid, reason))
    print("integration: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
