"""Machine details recorded beside every benchmark result."""

from __future__ import annotations

import os
import platform
import subprocess


def machine_info() -> dict[str, str | int]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = 0
    try:
        with open("/proc/meminfo") as f:
            mem_gib = round(int(f.readline().split()[1]) / 1024 / 1024)
    except (OSError, ValueError, IndexError):
        pass
    info: dict[str, str | int] = {
        "cpu": cpu,
        "cores": os.cpu_count() or 0,
        "memory_gib": mem_gib,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }
    try:
        import confluent_kafka

        info["confluent_kafka"] = confluent_kafka.__version__
        info["librdkafka"] = confluent_kafka.libversion()[0]
    except ImportError:
        pass
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=10)
        info["java"] = (out.stderr or out.stdout).splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        pass
    return info
