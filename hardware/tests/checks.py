"""The checks the hardware test scripts share: each prints PASS or FAIL with what it checked, and the run ends with
how many failed (its exit code)."""

failures = []


def check(cond, what, detail=""):
    print("%s  %s%s" % ("PASS" if cond else "FAIL", what, ("  (" + detail + ")") if detail else ""))
    if not cond:
        failures.append(what)
    return cond


def summary():
    """Prints how many checks failed and returns the exit code: 1 if any did."""
    print("\n%d check(s) failed%s" % (len(failures), (": " + "; ".join(failures)) if failures else ""))
    return 1 if failures else 0
