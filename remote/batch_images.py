"""The default container image of Batch jobs: AWS's Deep Learning Container for PyTorch
training on EC2, from the registry of the job's region.

AWS publishes no parameter naming the newest image, so the tag is pinned here and
moved forward with dlpick; `--image` takes any other. Source of the accounts and the
tag: the Deep Learning Containers' "Available images" and "Region availability" pages
(https://aws.github.io/deep-learning-containers/reference/available_images/).
"""

from __future__ import annotations

# The newest PyTorch training image for EC2 listed there (CUDA 13).
PYTORCH_TRAINING_TAG = "2.9.0-gpu-py312-cu130-ubuntu22.04-ec2"
REPOSITORY = "pytorch-training"
DEFAULT_ACCOUNT = "763104351884"
# Regions whose images live in a registry account of their own.
REGION_ACCOUNTS = {
    "af-south-1": "626614931356",
    "ap-east-1": "871362719292",
    "ap-east-2": "975050140332",
    "ap-south-2": "772153158452",
    "ap-southeast-3": "907027046896",
    "ap-southeast-4": "457447274322",
    "ap-southeast-5": "550225433462",
    "ap-southeast-6": "633930458069",
    "ap-southeast-7": "590183813437",
    "ap-northeast-3": "364406365360",
    "ca-west-1": "204538143572",
    "eu-south-1": "692866216735",
    "eu-south-2": "503227376785",
    "eu-central-2": "380420809688",
    "il-central-1": "780543022126",
    "mx-central-1": "637423239942",
    "me-south-1": "217643126080",
    "me-west-1": "124382933778",
    "me-central-1": "914824155844",
    "cn-north-1": "727897471807",
    "cn-northwest-1": "727897471807",
}


def default_image(region: str) -> str:
    """The PyTorch training image's URI in `region`'s registry (pulled without crossing regions)."""
    account = REGION_ACCOUNTS.get(region, DEFAULT_ACCOUNT)
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{REPOSITORY}:{PYTORCH_TRAINING_TAG}"
