"""The container deployment's secrets, made on its first start (docker/compose.yaml's ``secrets``
service) in the ``topk-secrets`` volume, all together: once they are there (``ready``), a restart changes
nothing.

    python init_secrets.py DIR

Nothing secret is committed or passed on a command line: services read these files (``TOPK_<NAME>_FILE``
for the project's clients, ``docker/with-secrets.sh`` for the S3 credentials, Redis's config file,
Prometheus's ``credentials_file``, Grafana's admin password).
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path


def made(names: dict[str, str]) -> dict[str, str]:
    """Each file's text, from the random values ``names`` (name -> value)."""
    return {
        "s3.env": f"AWS_ACCESS_KEY_ID={names['s3_key']}\nAWS_SECRET_ACCESS_KEY={names['s3_secret']}\n",
        "redis_password": names["redis"],
        "redis.conf": f"requirepass {names['redis']}\nappendonly yes\n",
        "cassandra_password": names["cassandra"],
        "cassandra_admin_password": names["cassandra_admin"],
        "api_token": names["api"],
        "grafana_admin_password": names["grafana"],
    }


def main(directory: str) -> None:
    root = Path(directory)
    if (root / "ready").exists():
        print(f"secrets in {root} already made")
        return
    root.mkdir(parents=True, exist_ok=True)
    values = {
        n: secrets.token_urlsafe(24) for n in ("s3_secret", "redis", "cassandra", "cassandra_admin", "api", "grafana")
    }
    values["s3_key"] = "topk" + secrets.token_hex(6)
    for name, text in made(values).items():  # all of them again after an interrupted first start: they agree
        path = root / name
        path.write_text(text)
        os.chmod(path, 0o644)  # the services read them as their own users; only the project's mount the volume
        print(f"made {path}")
    (root / "ready").write_text("")


if __name__ == "__main__":
    main(sys.argv[1])
