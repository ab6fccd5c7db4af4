#!/usr/bin/env python3
"""The Slurm autoscaler's sizing rule (deploy/slurm/expsvc-autoscaler's
workers_needed): jobs packed onto workers by slots and GPUs, without Slurm.

  autoscaler_sizing_test.py REPO
"""

import importlib.machinery
import importlib.util
import os
import sys
import types
import unittest


def load_autoscaler(repo):
    # The script imports grpc and the generated client only to talk to the
    # scheduler; the sizing rule needs neither, so stand-ins are enough here.
    for name in ("grpc", "expsvc", "expsvc._channel", "expsvc.v1"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["expsvc._channel"].default_address = lambda: ""
    sys.modules["expsvc._channel"].open_channel = lambda *a: None
    for name in ("common_pb2", "jobs_pb2", "jobs_pb2_grpc"):
        setattr(sys.modules["expsvc.v1"], name, types.ModuleType(name))
    path = os.path.join(repo, "deploy", "slurm", "expsvc-autoscaler")
    loader = importlib.machinery.SourceFileLoader("expsvc_autoscaler", path)
    spec = importlib.util.spec_from_loader("expsvc_autoscaler", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class WorkersNeededTest(unittest.TestCase):
    def test_cpu_jobs_fill_slots(self):
        self.assertEqual(autoscaler.workers_needed([0] * 10, 4, 0, 100), (3, []))
        self.assertEqual(autoscaler.workers_needed([], 4, 0, 100), (0, []))

    def test_gpus_bound_before_slots(self):
        # Eight 1-GPU jobs on 4-GPU workers with 16 slots: two workers, not one.
        self.assertEqual(autoscaler.workers_needed([1] * 8, 16, 4, 100), (2, []))
        # CPU jobs share a GPU worker's free slots.
        self.assertEqual(autoscaler.workers_needed([1] * 4 + [0] * 4, 8, 4, 100), (1, []))

    def test_requests_that_do_not_pair(self):
        # 3-GPU jobs cannot share a 4-GPU worker; the 1-GPU jobs fill the gaps.
        self.assertEqual(autoscaler.workers_needed([3, 3, 3, 1, 1, 1], 8, 4, 100), (3, []))
        self.assertEqual(autoscaler.workers_needed([2, 2, 2, 1, 1], 8, 4, 100), (2, []))

    def test_too_large_requests_are_reported_not_counted(self):
        self.assertEqual(autoscaler.workers_needed([8, 1], 4, 4, 100), (1, [8]))
        # CPU-only workers can run no GPU job at all.
        self.assertEqual(autoscaler.workers_needed([1, 1, 0], 4, 0, 100), (1, [1, 1]))

    def test_gpu_memory_per_device(self):
        # (GPUs, GiB per GPU): on 80 GiB GPUs a 141 GiB request cannot run.
        self.assertEqual(autoscaler.workers_needed([(1, 80), (1, 141), (1, 0)], 4, 2, 100, 80), (1, [(1, 141)]))
        # Workers whose GPU memory is not stated take any request.
        self.assertEqual(autoscaler.workers_needed([(1, 141)], 4, 1, 100), (1, []))
        # CPU workers offer no GPU memory.
        self.assertEqual(autoscaler.workers_needed([(0, 10)], 4, 0, 100), (0, [(0, 10)]))
        # Counts and memory both bound: two 1-GPU, 40 GiB jobs per 2-GPU worker.
        self.assertEqual(autoscaler.workers_needed([(1, 40)] * 4, 8, 2, 100, 80), (2, []))

    def test_capped_at_max_workers(self):
        self.assertEqual(autoscaler.workers_needed([1] * 1572, 4, 1, 16), (16, []))


if __name__ == "__main__":
    autoscaler = load_autoscaler(os.path.abspath(sys.argv.pop(1)))
    unittest.main(verbosity=2)
