package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// nonRoot is the user every image runs as (the distroless "nonroot" ids).
const nonRoot = "65532:65532"

// servicePorts is each service's default public port inside an image.
var servicePorts = map[string]string{
	"gateway": "8080", "auth-service": "8081", "user-service": "8082", "chat-service": "8083",
}

// imageSpec is everything an image is made of; equal specs give equal digests.
type imageSpec struct {
	Service string
	Version string
	Commit  string
	Created time.Time // the release commit's time: every timestamp in the image
	Binary  []byte
}

// tarFile is one regular file of a layer.
type tarFile struct {
	name string
	mode int64
	body []byte
}

// layerTar writes files into an uncompressed tar with fixed owners and times.
func layerTar(files []tarFile, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		// Parent folders first, each once, so every runtime unpacks them alike.
		for i := 1; i < len(f.name); i++ {
			if f.name[i] == '/' && !dirs[f.name[:i+1]] {
				dirs[f.name[:i+1]] = true
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: f.name[:i+1], Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
					return nil, err
				}
			}
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.body)), ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// caBundle is the PEM bundle of the unconstrained Mozilla roots from the
// pinned x509roots/fallback module: the same bytes on every machine, unlike
// the build host's /etc/ssl/certs.
func caBundle() []byte {
	var buf bytes.Buffer
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			continue // a distrust-after date cannot be written in a PEM file
		}
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate})
	}
	return buf.Bytes()
}

// layer makes a gzip-compressed OCI layer of files.
func layer(files []tarFile, mtime time.Time) (v1.Layer, error) {
	raw, err := layerTar(files, mtime)
	if err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		tarball.WithCompressionLevel(gzip.BestCompression), tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

// buildImage assembles the image of spec: a layer of CA roots, a layer with
// the static binary, a config naming the entrypoint, a non-root user and
// the OCI labels.
func buildImage(spec imageSpec) (v1.Image, error) {
	created := v1.Time{Time: spec.Created}
	certs, err := layer([]tarFile{{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, body: caBundle()}}, spec.Created)
	if err != nil {
		return nil, err
	}
	bin, err := layer([]tarFile{{name: spec.Service, mode: 0o755, body: spec.Binary}}, spec.Created)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: certs, MediaType: types.OCILayer, History: v1.History{Created: created, CreatedBy: "x509roots/fallback CA bundle", Comment: "CA roots"}},
		mutate.Addendum{Layer: bin, MediaType: types.OCILayer, History: v1.History{Created: created, CreatedBy: "scripts/release " + spec.Service + " " + spec.Version}},
	)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created = created
	cf.OS, cf.Architecture = goos, goarch
	port := servicePorts[spec.Service]
	cf.Config = v1.Config{
		Entrypoint:   []string{"/" + spec.Service},
		User:         nonRoot,
		WorkingDir:   "/",
		Env:          []string{"HTTP_ADDR=:" + port},
		ExposedPorts: map[string]struct{}{port + "/tcp": {}},
		StopSignal:   "SIGTERM",
		Labels: map[string]string{
			"org.opencontainers.image.title":    "parley-" + spec.Service,
			"org.opencontainers.image.version":  spec.Version,
			"org.opencontainers.image.revision": spec.Commit,
			"org.opencontainers.image.created":  spec.Created.Format(time.RFC3339),
		},
	}
	return mutate.ConfigFile(img, cf)
}

// writeLayout writes img as the only image of an OCI image layout at dir
// (for example `podman pull oci:<dir>` or `skopeo copy oci:<dir> …`).
func writeLayout(dir string, img v1.Image, tag string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag}))
}

// imageDigest is the manifest digest of img.
func imageDigest(img v1.Image) (string, error) {
	d, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("image digest: %v", err)
	}
	return d.String(), nil
}
