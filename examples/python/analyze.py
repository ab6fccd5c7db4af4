"""Pulls a finished sweep of train.py into DataFrames and plots its
validation loss curves, coloured by learning rate, to a PNG.

    analyze.py SWEEP_ID [--png docs/images/python-example.png]
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from expsvc import Client  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_id", type=int)
    parser.add_argument("--png", default="python-example.png")
    args = parser.parse_args()

    with Client() as client:
        table = client.metrics(args.sweep_id, keys=["val_loss", "val_acc"], aggregate="last")
        best = client.metrics(args.sweep_id, keys=["val_loss"], aggregate="min").rename(
            columns={"val_loss": "best_val_loss"})
        table = table.merge(best[["job_id", "best_val_loss"]], on="job_id")
        print(table.sort_values("best_val_loss").to_string(index=False))

        curves = client.metrics(args.sweep_id, keys=["val_loss"], series=True)
        jobs = client.jobs(args.sweep_id, all_params=True)[["job_id", "lr", "hidden", "attempt"]]
        curves = curves.merge(jobs, on="job_id")

    figure, axis = plt.subplots(figsize=(7, 4.2), dpi=120)
    colours = {lr: plt.cm.viridis(i / max(1, curves["lr"].nunique() - 1))
               for i, lr in enumerate(sorted(curves["lr"].unique()))}
    for (job_id, lr, hidden), points in curves.groupby(["job_id", "lr", "hidden"]):
        axis.plot(points["step"], points["value"], color=colours[lr], linestyle="-" if hidden > 16 else "--",
                  label=f"lr={lr:g}, hidden={hidden}")
    axis.set_xlabel("epoch")
    axis.set_ylabel("validation loss")
    axis.set_yscale("log")
    axis.set_title(f"sweep {args.sweep_id}: train.py over lr × hidden (each job crashed once and resumed)",
                   fontsize=9)
    axis.legend(fontsize=7, ncol=2)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(args.png)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
