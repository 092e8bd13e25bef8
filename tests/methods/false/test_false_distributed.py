"""Two gloo processes on CPU give the same FALSE loss and gradients as one process on the full batch.

Runs in float64 so that the comparison does not depend on how many threads sum the convolutions."""
import pytest
import torch
import torch.distributed as dist
from mmengine.registry import init_default_scope
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from helpers.distributed import run_in_processes
from rs_ssl_plugin.methods.false.algorithm import FALSE
from rs_ssl_plugin.methods.false.head import FALSEHead
from rs_ssl_plugin.methods.false.neck import LinearProjectionNeck

WORLD_SIZE = 2
IMAGES_PER_RANK = 4


class TinyBackbone(nn.Module):
    """Conv + pooling, no batch norm, so per-rank statistics cannot differ from the full batch."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        return (torch.relu(self.conv(x)), )


def build_model(sentinel):
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = FALSE(backbone=TinyBackbone(),
                  neck=LinearProjectionNeck(in_channels=8, hid_channels=16, out_channels=8),
                  head=FALSEHead(positive_threshold=-1.0, sentinel=sentinel),
                  data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[0, 0, 0], std=[1, 1, 1]))
    return model.double()


def make_views():
    g = torch.Generator().manual_seed(1)
    images = torch.rand(WORLD_SIZE * IMAGES_PER_RANK, 3, 8, 8, generator=g, dtype=torch.float64)
    images[5] = images[2] + 0.01  # a near duplicate across ranks, so a false negative is found
    return [images, images.flip(-1) * 0.9]


def single_process(sentinel):
    model = build_model(sentinel)
    losses = model.loss(make_views(), None)
    losses['loss'].backward()
    return losses, {n: p.grad.clone() for n, p in model.named_parameters()}


def worker(rank, sentinel):
    model = DistributedDataParallel(build_model(sentinel))
    shard = slice(rank * IMAGES_PER_RANK, (rank + 1) * IMAGES_PER_RANK)
    views = [v[shard] for v in make_views()]
    losses = model(views, None, mode='loss')
    losses['loss'].backward()
    loss = losses['loss'].detach().clone()
    dist.all_reduce(loss)  # the logged loss is the mean over ranks
    return dict(loss=(loss / WORLD_SIZE).item(), pairs=losses['false_negative_pairs'].item(),
                grads={n: p.grad.numpy().copy() for n, p in model.module.named_parameters()})


@pytest.mark.parametrize('sentinel', [float('inf'), 3.0])
def test_two_processes_equal_one_process(sentinel):
    expected_losses, expected_grads = single_process(sentinel)
    result = run_in_processes(worker, WORLD_SIZE, sentinel)[0]
    assert result['pairs'] == expected_losses['false_negative_pairs'].item() >= 1
    torch.testing.assert_close(torch.tensor(result['loss'], dtype=torch.float64), expected_losses['loss'].detach(),
                               rtol=1e-10, atol=1e-12)
    for name, grad in expected_grads.items():
        torch.testing.assert_close(torch.from_numpy(result['grads'][name]), grad, rtol=1e-8, atol=1e-12, msg=name)


def test_views_are_ordered_like_vissl():
    """The algorithm's loss is the loss of [all first views; all second views], not of interleaved rows."""
    from rs_ssl_plugin.methods.false.loss import false_loss
    model = build_model(float('inf'))
    views = make_views()
    with torch.no_grad():
        z = [model.neck(model.backbone(v))[0] for v in views]
        vissl_order = torch.cat(z)
        interleaved = torch.stack(z, dim=1).flatten(0, 1)
        loss = model.loss(views, None)['loss']
    expected, _ = false_loss(vissl_order, positive_threshold=-1.0)
    torch.testing.assert_close(loss, expected)
    wrong, _ = false_loss(interleaved, positive_threshold=-1.0)
    assert not torch.isclose(loss, wrong), 'interleaved rows pair the wrong positives'
