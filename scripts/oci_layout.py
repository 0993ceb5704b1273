"""Writes OCI image layouts of random data, for the integration tests and the benchmarks.

  oci_layout.py image DIR TAG LAYERS MIB   one image: LAYERS tar+gzip layers of MIB MiB
                                           each, a config whose diff_ids match; prints
                                           the manifest digest
  oci_layout.py index DIR TAG              an image index of linux/amd64 and linux/arm64
                                           (one 512 KiB layer each); prints the index
                                           digest, then the amd64 and arm64 manifests'
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


class Layout:
    def __init__(self, root):
        self.root = root
        self.blobs = os.path.join(root, "blobs", "sha256")
        os.makedirs(self.blobs, exist_ok=True)

    def put(self, data):
        d = hashlib.sha256(data).hexdigest()
        with open(os.path.join(self.blobs, d), "wb") as f:
            f.write(data)
        return "sha256:" + d

    def layer(self, files):
        """A tar+gzip layer of {path: bytes}; returns (descriptor, diff_id)."""
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as t:
            for path, data in files.items():
                info = tarfile.TarInfo(path)
                info.size = len(data)
                info.mode = 0o644
                t.addfile(info, io.BytesIO(data))
        tar = raw.getvalue()
        gz = gzip.compress(tar, compresslevel=1, mtime=0)
        desc = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": self.put(gz), "size": len(gz)}
        return desc, "sha256:" + hashlib.sha256(tar).hexdigest()

    def image(self, arch, layer_files, cmd=None):
        """An image manifest over layers of {path: bytes}; returns (digest, body)."""
        layers, diff_ids = zip(*(self.layer(files) for files in layer_files))
        config = {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": list(diff_ids)}}
        if cmd:
            config["config"] = {"Cmd": cmd}
        config = json.dumps(config).encode()
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": self.put(config), "size": len(config)},
                               "layers": list(layers)}).encode()
        return self.put(manifest), manifest

    def name(self, media_type, digest, body, tag):
        with open(os.path.join(self.root, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": [{"mediaType": media_type, "digest": digest, "size": len(body),
                       "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)
        with open(os.path.join(self.root, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)


def main(kind, root, tag, *rest):
    out = Layout(root)
    if kind == "image":
        nlayers, mib = int(rest[0]), int(rest[1])
        files = [{f"data/layer{i}.bin": os.urandom(mib * 1024 * 1024), f"etc/layer{i}.txt": f"layer {i}\n".encode()}
                 for i in range(nlayers)]
        digest, body = out.image("amd64", files, cmd=["/bin/sh"])
        out.name(OCI_MANIFEST, digest, body, tag)
        print(digest)
    elif kind == "index":
        platforms = []
        for arch in ("amd64", "arm64"):
            digest, body = out.image(arch, [{f"data/{arch}.bin": os.urandom(512 * 1024)}])
            platforms.append({"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body),
                              "platform": {"architecture": arch, "os": "linux"}})
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": platforms}).encode()
        digest = out.put(index)
        out.name(OCI_INDEX, digest, index, tag)
        print(digest)
        for p in platforms:
            print(p["digest"])
    else:
        sys.exit(f"unknown kind {kind}: image or index")


if __name__ == "__main__":
    main(*sys.argv[1:])
