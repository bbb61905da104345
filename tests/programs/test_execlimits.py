"""exec_size_problem against the kernel itself: what it calls too large is exactly what execve() refuses (E2BIG)."""

from __future__ import annotations

import errno
import subprocess

import pytest

from wrapper.programs.execlimits import exec_budget_bytes, exec_size_problem

TRUE = "/bin/true"


def kernel_refuses(argv: list[str], env: dict[str, str]) -> bool:
    try:
        subprocess.run(argv, env=env, check=True, executable=TRUE)
    except OSError as exc:
        assert exc.errno == errno.E2BIG, exc
        return True
    return False


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_the_total_at_the_kernels_budget(extra):
    budget = exec_budget_bytes()
    word = "w" * 1000
    count = (budget - 1000) // (len(word) + 1 + 8)
    # the path and argv[0] (each with its NUL), the words, the rest's NUL, and one pointer per argument
    fixed = 2 * (len(TRUE) + 1) + count * (len(word) + 1) + 1 + (count + 2) * 8
    argv = [TRUE, *[word] * count, "r" * (budget + extra - fixed)]
    problem = exec_size_problem(TRUE, argv, {}, budget)
    assert (problem is not None) == (extra > 0)
    assert kernel_refuses(argv, {}) == (extra > 0)


def test_the_budget_is_a_quarter_of_the_stack_limit_within_the_kernels_bounds():
    assert 128 * 1024 <= exec_budget_bytes() <= 6 * 1024 * 1024
