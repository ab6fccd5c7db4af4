"""A small PyTorch training script run as a `command` job (sweep.yaml).

It learns two interleaved spirals with an MLP, logs its losses through the
expsvc client, keeps a checkpoint in outputs/ (restored by the worker before
a retry) and, to show retries at work, can crash once on purpose.
Run by hand it trains the same and prints its metrics as JSON lines.
"""

import argparse
import math
import os

import torch

from expsvc import run


def spirals(points, seed):
    generator = torch.Generator().manual_seed(seed)
    t = torch.rand(points, generator=generator) * 3 * math.pi + 0.5
    label = torch.randint(0, 2, (points,), generator=generator)
    angle = t + label * math.pi
    xy = torch.stack([t * torch.cos(angle), t * torch.sin(angle)], dim=1) / 5
    xy += 0.05 * torch.randn(points, 2, generator=generator)
    return xy, label


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--crash-at-epoch", type=int, default=-1,
                        help="on the first attempt, die (SIGKILL) at this epoch; -1: never")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)

    train_x, train_y = spirals(2000, seed=1)
    val_x, val_y = spirals(500, seed=2)
    model = torch.nn.Sequential(torch.nn.Linear(2, args.hidden), torch.nn.Tanh(),
                                torch.nn.Linear(args.hidden, args.hidden), torch.nn.Tanh(),
                                torch.nn.Linear(args.hidden, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    run.outputs_dir.mkdir(exist_ok=True)
    checkpoint = run.outputs_dir / "checkpoint.pt"
    start = 0
    if checkpoint.exists():
        state = torch.load(checkpoint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = state["epoch"]
        run.resume_from(start)
        print(f"resumed from epoch {start} (attempt {run.attempt})", flush=True)

    for epoch in range(start + 1, args.epochs + 1):
        model.train()
        for batch in torch.randperm(len(train_x)).split(100):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(train_x[batch]), train_y[batch])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            train_loss = torch.nn.functional.cross_entropy(model(train_x), train_y).item()
            logits = model(val_x)
            val_loss = torch.nn.functional.cross_entropy(logits, val_y).item()
            val_acc = (logits.argmax(1) == val_y).float().mean().item()
        run.log_dict({"train_loss": train_loss, "val_loss": val_loss, "val_acc": val_acc}, epoch)
        if epoch % 5 == 0 or run.should_stop():
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}, checkpoint)
        if run.should_stop():
            print(f"stop requested at epoch {epoch}: checkpoint saved", flush=True)
            return
        if epoch == args.crash_at_epoch and run.attempt == 1 and run.in_job():
            print(f"crashing on purpose at epoch {epoch}", flush=True)
            run.flush()
            os.kill(os.getpid(), 9)
    torch.save(model.state_dict(), run.outputs_dir / "model.pt")
    print(f"done: val_acc {val_acc:.3f}", flush=True)


if __name__ == "__main__":
    main()
