"""SDCluster's Sinkhorn-Knopp assignments against the official sequence of operations, and their marginals."""
import torch

from rs_ssl_plugin.methods.sdcluster.loss import sinkhorn_knopp


def official_sinkhorn(scores, temperature=0.07, iterations=3):
    """The official sequence of operations, one process."""
    q = torch.exp(scores.permute(1, 0, 2, 3).flatten(1).double() / temperature)
    columns, prototypes = q.shape[1], q.shape[0]
    q /= q.sum()
    for _ in range(iterations):
        q /= q.sum(dim=1, keepdim=True)
        q /= prototypes
        q /= q.sum(dim=0, keepdim=True)
        q /= columns
    q *= columns
    return q.unflatten(1, (scores.shape[0], ) + scores.shape[2:]).permute(1, 0, 2, 3)


def test_sinkhorn_matches_official_sequence_and_marginals():
    scores = torch.rand(3, 16, 5, 4) * 2 - 1
    q = sinkhorn_knopp(scores)
    torch.testing.assert_close(q.double(), official_sinkhorn(scores), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(q.sum(1), torch.ones(3, 5, 4))  # every pixel is a distribution
    converged = sinkhorn_knopp(scores, iterations=200)
    mass = converged.sum(dim=(0, 2, 3))
    torch.testing.assert_close(mass, torch.full((16, ), 3 * 5 * 4 / 16), rtol=1e-4, atol=1e-4)
