"""The functions' code as `sam package` leaves it: for each function of the template, a zip
holding its binary as `bootstrap`, in an S3 bucket (here MiniStack's) under a key named by
the binary and the zip's digest. The binaries are the workspace's debug builds
(`${CARGO_TARGET_DIR:-target}/debug/<name>`), which run natively as `provided.al2023`
bootstraps under MiniStack's local executor."""

import concurrent.futures
import hashlib
import io
import os
import zipfile

BUCKET = "rehearsal-artifacts"


def binaries(template):
    """The binary of every function (Metadata.BuildProperties.Binary, cargo-lambda's)."""
    return sorted(
        {
            resource["Metadata"]["BuildProperties"]["Binary"]
            for resource in template["Resources"].values()
            if resource.get("Type") == "AWS::Serverless::Function"
        }
    )


def zip_bootstrap(path):
    """A zip of one executable `bootstrap`; fixed timestamp, so one binary makes one zip."""
    buffer = io.BytesIO()
    entry = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
    entry.external_attr = 0o100755 << 16
    # Stored, not deflated: compressing 14 debug binaries of 25-45 MB took 10 s of the
    # rehearsal's budget; the zip only travels to MiniStack on this machine.
    entry.compress_type = zipfile.ZIP_STORED
    with open(path, "rb") as f, zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(entry, f.read())
    return buffer.getvalue()


def upload(s3, template, bin_dir):
    """Zips and uploads every function's binary; returns {binary: "s3://bucket/key"}."""
    s3.create_bucket(Bucket=BUCKET)
    names = binaries(template)
    missing = [name for name in names if not os.path.exists(os.path.join(bin_dir, name))]
    if missing:
        raise FileNotFoundError(f"not built in {bin_dir}: {', '.join(missing)} (cargo build --workspace --bins)")

    def one(name):
        data = zip_bootstrap(os.path.join(bin_dir, name))
        key = f"functions/{name}-{hashlib.sha256(data).hexdigest()[:16]}.zip"
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        return name, f"s3://{BUCKET}/{key}"

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(one, names))
