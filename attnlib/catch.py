"""Chapter 3: the game of Catch of Mnih et al. (2014), as a batched environment in torch.

A ball falls from the top row of an ``H x W`` screen, ``fall_speed`` rows per step, and moves
``dx`` columns per step sideways (``dx`` drawn uniformly from ``-max_dx .. max_dx`` at reset),
bouncing off the side walls (Eq. (agent-catch-bounce)). A paddle ``paddle_width`` pixels wide
sits on the bottom row; at every step the agent moves it one column left, not at all, or one
column right (actions ``0, 1, 2``), never past the walls. When the ball reaches the bottom row
the episode ends with reward 1 if the ball's column lies under the paddle and 0 otherwise; no
other step is rewarded (Eq. (agent-catch-reward)).

All ``B`` episodes of a batch have the same length ``T = (H - 1) / fall_speed``, so the batch is
advanced by tensor operations with no Python loop over episodes; :meth:`Catch.step` implements
one step for the whole batch. The state is four integer tensors ``(B,)``: ball row, ball column,
sideways velocity and paddle centre. Frames ``(B, 1, H, W)`` (ball and paddle pixels at 1, the
rest 0) are what the agent sees, and what the chapter draws.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from attnlib import checks

__all__ = ["Catch", "CatchState", "random_policy_rate"]

LEFT, STAY, RIGHT = 0, 1, 2


class CatchState(NamedTuple):
    """The state of a batch of games: four ``(B,)`` int64 tensors."""

    ball_row: torch.Tensor
    ball_col: torch.Tensor
    dx: torch.Tensor
    paddle: torch.Tensor


class Catch:
    """A batch of ``batch_size`` games of Catch (module docstring; Eqs. (agent-catch-bounce), (agent-catch-reward)).

    Parameters
    ----------
    batch_size
        Number of games played in parallel.
    height, width
        Screen size in pixels (24 x 24 in the paper).
    paddle_width
        Odd width of the paddle, in pixels.
    max_dx
        Largest sideways speed of the ball, in columns per step (``0``: the ball falls straight).
    fall_speed
        Rows the ball falls per step; ``height - 1`` must be a multiple of it.
    device
        Where the state and frames live.
    """

    def __init__(
        self,
        batch_size: int,
        height: int = 24,
        width: int = 24,
        paddle_width: int = 3,
        max_dx: int = 1,
        fall_speed: int = 1,
        device: torch.device | str = "cpu",
    ) -> None:
        checks.positive_ints(batch_size=batch_size, width=width, paddle_width=paddle_width, fall_speed=fall_speed)
        checks.non_negative_int(max_dx, "max_dx")
        if not isinstance(height, int) or isinstance(height, bool) or height < 2:
            raise ValueError(f"height must be an int >= 2, got {height!r}")
        if paddle_width % 2 == 0 or paddle_width > width:
            raise ValueError(f"paddle_width must be odd and <= width = {width}, got {paddle_width}")
        if (height - 1) % fall_speed:
            raise ValueError(f"fall_speed must divide height - 1 = {height - 1}, got {fall_speed}")
        if max_dx >= width:
            raise ValueError(f"max_dx must be < width = {width}, got {max_dx}")
        self.batch_size, self.height, self.width = batch_size, height, width
        self.paddle_width, self.max_dx, self.fall_speed = paddle_width, max_dx, fall_speed
        self.device = checks.device(device, "device")
        self.steps = (height - 1) // fall_speed
        self.state: CatchState | None = None
        self.t = 0

    def reset(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Start new games: ball on the top row at a uniform column with a uniform ``dx``, paddle centred.

        ``generator`` (a CPU ``torch.Generator``) makes the games reproducible. Returns frames ``(B, 1, H, W)``.
        """
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be None or a torch.Generator, got {type(generator).__name__}")
        b = self.batch_size
        col = torch.randint(0, self.width, (b,), generator=generator)
        dx = torch.randint(-self.max_dx, self.max_dx + 1, (b,), generator=generator)
        zeros = torch.zeros(b, dtype=torch.long)
        paddle = torch.full((b,), self.width // 2, dtype=torch.long)
        self.state = CatchState(*(x.to(self.device) for x in (zeros, col, dx, paddle)))
        self.t = 0
        return self.render()

    def set_state(self, state: CatchState) -> torch.Tensor:
        """Put the games in a given state (hand-worked episodes in the tests, figures); returns its frames."""
        if not isinstance(state, CatchState):
            raise ValueError(f"state must be a CatchState, got {type(state).__name__}")
        for name, value in state._asdict().items():
            checks.tensor(value, f"state.{name}", shape=(self.batch_size,), dtype="int")
        if ((state.ball_col < 0) | (state.ball_col >= self.width)).any():
            raise ValueError(f"state.ball_col must lie in [0, {self.width})")
        half = self.paddle_width // 2
        if ((state.paddle < half) | (state.paddle > self.width - 1 - half)).any():
            raise ValueError(
                f"state.paddle must lie in [{half}, {self.width - 1 - half}] (the paddle inside the screen)"
            )
        if ((state.ball_row < 0) | (state.ball_row >= self.height - 1) | (state.ball_row % self.fall_speed != 0)).any():
            raise ValueError(f"state.ball_row must be a multiple of fall_speed in [0, {self.height - 1})")
        self.state = CatchState(*(x.to(self.device, torch.long) for x in state))
        self.t = int(state.ball_row[0]) // self.fall_speed
        return self.render()

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """Advance every game one step: paddle, then ball (Eq. (agent-catch-bounce)).

        ``actions (B,)`` in ``{0: left, 1: stay, 2: right}``. Returns the new frames ``(B, 1, H, W)``,
        the rewards ``(B,)`` (non-zero only at the last step, Eq. (agent-catch-reward)) and whether the
        games are over (all at once: they share their length).
        """
        if self.state is None:
            raise ValueError("call reset() before step()")
        if self.t >= self.steps:
            raise ValueError(f"the games are over after {self.steps} steps; call reset()")
        checks.ids_in_range(checks.tensor(actions, "actions", shape=(self.batch_size,)), 3, "actions")
        s = self.state
        half = self.paddle_width // 2
        paddle = (s.paddle + actions.to(self.device) - 1).clamp(half, self.width - 1 - half)
        col, dx = s.ball_col + s.dx, s.dx
        low, high = col < 0, col > self.width - 1  # reflect off the walls
        col = torch.where(low, -col, torch.where(high, 2 * (self.width - 1) - col, col))
        dx = torch.where(low | high, -dx, dx)
        row = s.ball_row + self.fall_speed
        self.state = CatchState(row, col, dx, paddle)
        self.t += 1
        done = self.t == self.steps
        reward = torch.zeros(self.batch_size, device=self.device)
        if done:
            reward = ((col - paddle).abs() <= half).float()
        return self.render(), reward, done

    def render(self, state: CatchState | None = None) -> torch.Tensor:
        """Frames ``(B, 1, H, W)`` of ``state`` (default: the current one): ball and paddle pixels at 1."""
        s = self.state if state is None else state
        if s is None:
            raise ValueError("call reset() before render()")
        b = s.ball_row.shape[0]
        frames = torch.zeros(b, 1, self.height, self.width, device=s.ball_row.device)
        idx = torch.arange(b, device=s.ball_row.device)
        offsets = torch.arange(-(self.paddle_width // 2), self.paddle_width // 2 + 1, device=s.ball_row.device)
        frames[idx[:, None], 0, self.height - 1, s.paddle[:, None] + offsets] = 1.0
        frames[idx, 0, s.ball_row, s.ball_col] = 1.0
        return frames

    def ball_xy(self) -> torch.Tensor:
        """The ball's centre in the retina's ``[-1, 1]`` coordinates, ``(B, 2)`` (for figures and distances)."""
        if self.state is None:
            raise ValueError("call reset() before ball_xy()")
        s = self.state
        x = (s.ball_col.float() + 0.5) / self.width * 2 - 1
        y = (s.ball_row.float() + 0.5) / self.height * 2 - 1
        return torch.stack([x, y], -1)


def random_policy_rate(env: Catch, episodes: int, generator: torch.Generator) -> float:
    """Catch rate of the uniformly random policy over ``episodes`` games (in batches of ``env.batch_size``)."""
    if not isinstance(env, Catch):
        raise ValueError(f"env must be an attnlib.catch.Catch, got {type(env).__name__}")
    checks.positive_int(episodes, "episodes")
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator (reproducible games), got {type(generator).__name__}")
    caught = []
    while sum(len(c) for c in caught) < episodes:
        env.reset(generator)
        done, reward = False, None
        while not done:
            _, reward, done = env.step(torch.randint(0, 3, (env.batch_size,), generator=generator))
        caught.append(reward)
    return float(torch.cat(caught)[:episodes].mean())
