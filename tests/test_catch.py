"""Tests of attnlib.catch: hand-worked episodes (catch, miss, wall bounce), determinism, the batch against a
per-episode loop, frames, bad inputs."""

from __future__ import annotations

import pytest
import torch

from attnlib.catch import LEFT, RIGHT, STAY, Catch, CatchState, random_policy_rate


def state(*rows):
    """A CatchState from per-episode tuples (ball_row, ball_col, dx, paddle)."""
    return CatchState(*(torch.tensor(col, dtype=torch.long) for col in zip(*rows)))


def play_actions(env, actions):
    """Play a fixed action sequence (one int per step, the same for every episode); return the last reward."""
    reward, done = None, False
    for a in actions:
        _, reward, done = env.step(torch.full((env.batch_size,), a))
    assert done
    return reward


def test_hand_worked_catch_and_miss():
    # 5x5 screen: 4 steps. Ball at column 0 falling straight; paddle (width 3) centred at column 2.
    env = Catch(2, height=5, width=5, paddle_width=3, max_dx=0)
    env.set_state(state((0, 0, 0, 2), (0, 4, 0, 2)))
    # moving left twice puts the paddle at column 1 (covers 0..2; it cannot go further): first caught, second missed
    reward = play_actions(env, [LEFT, LEFT, LEFT, STAY])
    assert env.state.paddle.tolist() == [1, 1]
    assert reward.tolist() == [1.0, 0.0]
    assert env.state.ball_row.tolist() == [4, 4]


def test_wall_bounce_by_hand():
    # width 5, ball at column 3 moving right by 1: 3 -> 4 -> 3 (bounced) -> 2 -> 1; dx flips once.
    env = Catch(1, height=5, width=5, max_dx=1)
    env.set_state(state((0, 3, 1, 2)))
    cols, dxs = [], []
    for _ in range(4):
        env.step(torch.tensor([STAY]))
        cols.append(int(env.state.ball_col))
        dxs.append(int(env.state.dx))
    assert cols == [4, 3, 2, 1]
    assert dxs == [1, -1, -1, -1]
    # and on the left wall, with speed 2: 1 -> -1 reflected to 1, dx -> +2
    env = Catch(1, height=5, width=5, max_dx=2)
    env.set_state(state((0, 1, -2, 2)))
    env.step(torch.tensor([RIGHT]))
    assert (int(env.state.ball_col), int(env.state.dx), int(env.state.paddle)) == (1, 2, 3)


def reference_step(s, action, width, half, fall):
    """One game, one step, in plain Python: the rules of the module docstring."""
    row, col, dx, paddle = s
    paddle = min(max(paddle + action - 1, half), width - 1 - half)
    col = col + dx
    if col < 0:
        col, dx = -col, -dx
    elif col > width - 1:
        col, dx = 2 * (width - 1) - col, -dx
    return row + fall, col, dx, paddle


@pytest.mark.parametrize("max_dx,fall,height", [(1, 1, 24), (3, 2, 13)])
def test_batch_equals_a_loop_over_episodes(max_dx, fall, height):
    env = Catch(64, height=height, width=11, paddle_width=3, max_dx=max_dx, fall_speed=fall)
    gen = torch.Generator().manual_seed(0)
    env.reset(gen)
    games = [tuple(int(x[i]) for x in env.state) for i in range(64)]
    actions = torch.randint(0, 3, (env.steps, 64), generator=gen)
    for t in range(env.steps):
        frames, reward, done = env.step(actions[t])
        games = [reference_step(g, int(actions[t, i]), 11, 1, fall) for i, g in enumerate(games)]
        assert [tuple(int(x[i]) for x in env.state) for i in range(64)] == games
    assert done
    expected = [float(abs(g[1] - g[3]) <= 1) for g in games]
    assert reward.tolist() == expected
    # frames: the ball's pixel and the paddle's three pixels
    assert frames.shape == (64, 1, height, 11)
    for i, (row, col, _, paddle) in enumerate(games):
        assert frames[i, 0, row, col] == 1
        assert frames[i, 0, height - 1, paddle - 1 : paddle + 2].tolist() == [1.0, 1.0, 1.0]
        assert frames[i].sum() == (3 if (row == height - 1 and abs(col - paddle) <= 1) else 4)


def test_reset_is_deterministic_and_seeded():
    a, b = Catch(16), Catch(16)
    fa = a.reset(torch.Generator().manual_seed(5))
    fb = b.reset(torch.Generator().manual_seed(5))
    assert torch.equal(fa, fb) and all(torch.equal(x, y) for x, y in zip(a.state, b.state))
    b.reset(torch.Generator().manual_seed(6))
    assert not torch.equal(a.state.ball_col, b.state.ball_col)
    assert a.state.dx.abs().max() <= 1 and (a.state.ball_row == 0).all()
    assert (a.state.paddle == 12).all()


def test_ball_xy_and_random_policy():
    env = Catch(4, height=5, width=5, max_dx=0)
    env.set_state(state((0, 0, 0, 2), (0, 4, 0, 2), (0, 2, 0, 2), (2, 2, 0, 2)))
    xy = env.ball_xy()
    torch.testing.assert_close(xy[:, 0], torch.tensor([-0.8, 0.8, 0.0, 0.0]))
    torch.testing.assert_close(xy[:, 1], torch.tensor([-0.8, -0.8, -0.8, 0.0]))
    rate = random_policy_rate(Catch(200), 400, torch.Generator().manual_seed(0))
    assert 0.05 < rate < 0.3  # a 3-pixel paddle on a 24-pixel screen, moved at random


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2, "paddle_width": 2}, "paddle_width"),
        ({"batch_size": 2, "height": 24, "fall_speed": 2}, "fall_speed"),
        ({"batch_size": 2, "max_dx": -1}, "max_dx"),
        ({"batch_size": 2, "max_dx": 24}, "max_dx"),
        ({"batch_size": 2, "height": 1}, "height"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Catch(**kwargs)


def test_bad_steps():
    env = Catch(2, height=3, width=5)
    with pytest.raises(ValueError, match="reset"):
        env.step(torch.tensor([1, 1]))
    env.reset(torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="actions"):
        env.step(torch.tensor([1, 3]))
    with pytest.raises(ValueError, match="actions"):
        env.step(torch.tensor([1]))
    env.step(torch.tensor([1, 1]))
    env.step(torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="over"):
        env.step(torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="paddle"):
        env.set_state(state((0, 0, 0, 0), (0, 0, 0, 2)))
    with pytest.raises(ValueError, match="generator"):
        env.reset(generator=5)


# ----------------------------------------------------------------------------- bad input (issue 24 follow-up)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: Catch(2, device="gpu0"), "device"),
        (lambda: Catch(2, device=""), "device"),
        (lambda: Catch(2, device=["cpu"]), "device"),
        (lambda: random_policy_rate("catch", 4, torch.Generator()), "env"),
        (lambda: random_policy_rate(Catch(2, height=5, width=5), 4, None), "generator"),
        (lambda: random_policy_rate(Catch(2, height=5, width=5), 4, 7), "generator"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
