"""Chapter 3's coding exercises: the chapter's reference solutions pass their checkers, typical mistakes do not."""

from __future__ import annotations

import pytest
import torch
from exercise_cells import run_solution

from attnlib.exercises.ram_agent import check_catch_step, check_two_head_surrogate

CHAPTER = "03_ram_agent"


def _failures(report) -> str:
    assert not report.passed
    return str(report)


def test_reference_catch_step_passes_and_the_clamped_ball_is_caught():
    namespace, printed = run_solution(CHAPTER, "ex-agent-catch-step")
    assert check_catch_step(namespace["catch_step"], verbose=False).passed
    assert not check_catch_step(namespace["catch_step_clamped"], verbose=False).passed
    assert "All cases pass." in printed


def test_catch_step_mistakes_are_named():
    def no_bounce(ball_col, dx, paddle, actions, width, paddle_width):
        # reflects the column but forgets to flip the speed
        half = paddle_width // 2
        col = ball_col + dx
        col = torch.where(col < 0, -col, torch.where(col > width - 1, 2 * (width - 1) - col, col))
        return col, dx, (paddle + actions - 1).clamp(half, width - 1 - half)

    text = _failures(check_catch_step(no_bounce, verbose=False))
    assert "the new dx" in text and "speed changes sign" in text

    def paddle_off_screen(ball_col, dx, paddle, actions, width, paddle_width):
        # clamps the paddle's centre to the screen instead of the whole paddle
        col = ball_col + dx
        low, high = col < 0, col > width - 1
        col = torch.where(low, -col, torch.where(high, 2 * (width - 1) - col, col))
        return col, torch.where(low | high, -dx, dx), (paddle + actions - 1).clamp(0, width - 1)

    report = check_catch_step(paddle_off_screen, verbose=False)
    text = _failures(report)
    assert "the new paddle" in text and "whole paddle is on the screen" in text
    assert report.outcomes[0][1] is None  # away from the walls it agrees

    def two_values(ball_col, dx, paddle, actions, width, paddle_width):
        return ball_col + dx, paddle

    assert "expected a tuple (ball_col, dx, paddle)" in _failures(check_catch_step(two_values, verbose=False))


def test_reference_surrogate_passes_and_the_whole_return_is_caught():
    namespace, printed = run_solution(CHAPTER, "ex-agent-surrogate")
    assert check_two_head_surrogate(namespace["two_head_surrogate"], verbose=False).passed
    report = check_two_head_surrogate(namespace["surrogate_whole_return"], verbose=False)
    # the whole return equals the reward-to-go when the only reward is at the end (the first case)
    assert report.outcomes[0][1] is None and not report.passed
    assert "reward still to come" in str(report)
    assert "All cases pass." in printed


def test_surrogate_mistakes_are_named():
    def baseline_not_detached(alp, llp, rewards, baselines):
        to_go = rewards.flip(1).cumsum(1).flip(1)
        return -((to_go - baselines) * (alp + llp)).sum(1).mean()

    assert "baseline is a constant" in _failures(check_two_head_surrogate(baseline_not_detached, verbose=False))

    def wrong_sign(alp, llp, rewards, baselines):
        to_go = rewards.flip(1).cumsum(1).flip(1)
        return ((to_go - baselines).detach() * (alp + llp)).sum(1).mean()

    assert "the surrogate's value" in _failures(check_two_head_surrogate(wrong_sign, verbose=False))

    def action_head_only(alp, llp, rewards, baselines):
        to_go = rewards.flip(1).cumsum(1).flip(1)
        return -((to_go - baselines).detach() * alp).sum(1).mean()

    text = _failures(check_two_head_surrogate(action_head_only, verbose=False))
    assert "the surrogate's value" in text and "both heads share the advantage" in text

    def per_step_vector(alp, llp, rewards, baselines):
        return -(rewards * (alp + llp)).sum(1)

    assert "expected a scalar" in _failures(check_two_head_surrogate(per_step_vector, verbose=False))


def test_skeleton_is_reported_not_raised(capsys):
    def skeleton(*args, **kwargs):
        raise NotImplementedError("write this function")

    for checker in (check_catch_step, check_two_head_surrogate):
        report = checker(skeleton)
        assert report.n_passed == 0
        assert "NotImplementedError" in capsys.readouterr().out


@pytest.mark.parametrize("checker", [check_catch_step, check_two_head_surrogate])
def test_checkers_refuse_bad_arguments(checker):
    with pytest.raises(ValueError, match="fn"):
        checker("not a function")
    with pytest.raises(ValueError, match="verbose"):
        checker(lambda *a, **k: None, verbose="yes")
