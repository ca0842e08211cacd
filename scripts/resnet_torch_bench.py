#!/usr/bin/env python3
"""PyTorch CPU throughput of the model `dak bench model --model resnet50` times: a torchvision
ResNet + GAP + Dense(1024, ReLU) + Dropout + Dense(10), Adam, random weights and inputs.

Prints img/s for inference (eval, no grad), frozen-base training (the base in eval mode without
gradients, the head trained) and whole-network training (train mode: BN on batch statistics),
the three rows of dak's benchmark, as one JSON line. Run it in the same hour as dak's benchmark
on the same machine, with the same number of threads dak's adapter uses.

    pip install torch torchvision
    python3 scripts/resnet_torch_bench.py --model resnet50 --input 224 --batch 16 --threads 2
"""
import argparse
import json
import time

import torch
import torchvision


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--input", type=int, default=224)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    base = getattr(torchvision.models, a.model)(weights=None)
    features = base.fc.in_features
    base.fc = torch.nn.Identity()
    head = torch.nn.Sequential(torch.nn.Linear(features, 1024), torch.nn.ReLU(), torch.nn.Dropout(0.5),
                               torch.nn.Linear(1024, 10))
    x = torch.rand(a.batch, 3, a.input, a.input) - 0.5
    y = torch.arange(a.batch) % 10

    def rate(step, steps):
        step()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        return a.batch * steps / (time.perf_counter() - start)

    def infer():
        base.eval()
        head.eval()
        with torch.no_grad():
            head(base(x))

    whole_opt = torch.optim.Adam(list(base.parameters()) + list(head.parameters()), lr=1e-4)

    def whole():
        base.train()
        head.train()
        whole_opt.zero_grad()
        torch.nn.functional.cross_entropy(head(base(x)), y).backward()
        whole_opt.step()

    head_opt = torch.optim.Adam(head.parameters(), lr=1e-4)

    def frozen():
        base.eval()
        head.train()
        head_opt.zero_grad()
        with torch.no_grad():
            f = base(x)
        torch.nn.functional.cross_entropy(head(f), y).backward()
        head_opt.step()

    out = {"model": a.model, "input": a.input, "batch": a.batch, "threads": a.threads,
           "torch": torch.__version__,
           "inference_img_s": rate(infer, a.steps),
           "frozen_base_train_img_s": rate(frozen, a.steps),
           "whole_network_train_img_s": rate(whole, a.steps)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
