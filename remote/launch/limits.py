"""The ranges dlpick accepts for what a launch asks for, shared by the CLI and the app.

A value outside them is refused where it is typed, before anything reaches AWS.
"""

from __future__ import annotations

# EBS gp3 volumes hold 1 GiB to 16 TiB (EC2 user guide, "Amazon EBS volume types");
# no Deep Learning AMI boots from less than 8 GiB.
MIN_VOLUME_GB = 8
MAX_VOLUME_GB = 16384
# A self-stop deadline (--max-hours, or what --budget buys) of at most a year.
MAX_HOURS = 8760.0
MAX_BUDGET_USD = 1_000_000.0
# The idle alarm evaluates 5-minute periods; CloudWatch caps an alarm's
# evaluation window at one day for periods of a minute or more.
MIN_IDLE_STOP_MINUTES = 5
MAX_IDLE_STOP_MINUTES = 1440
# A quota increase request larger than this is a typo, not a plan.
MAX_QUOTA_VCPUS = 100_000
