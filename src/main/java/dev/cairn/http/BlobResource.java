package dev.cairn.http;

import dev.cairn.values.ClientText;
import dev.cairn.values.Refusal;
import java.net.URI;
import java.time.Duration;

import dev.cairn.values.Digest;
import dev.cairn.registry.RepositoryBlobs;
import dev.cairn.values.RepositoryName;

import java.io.InputStream;
import java.util.Optional;

/** {@code GET|HEAD|DELETE /v2/<name>/blobs/<digest>} (end-2, end-10). */
final class BlobResource {
    private final RepositoryBlobs blobs;
    /** When present, a blob GET answers 307 to a URL of the blob store valid this long, so bytes bypass the node. */
    private final Optional<Duration> redirectFor;

    BlobResource(RepositoryBlobs blobs, Optional<Duration> redirectFor) {
        this.blobs = blobs;
        this.redirectFor = redirectFor;
    }

    void handle(Exchange x, OciRoute route) {
        RepositoryName repository = PathParameters.repository(route.name());
        Digest digest = readable(repository, route.argument());
        switch (x.method()) {
            case "GET", "HEAD" -> get(x, repository, digest);
            case "DELETE" -> {
                blobs.deleteBlob(repository, digest);
                x.send(202);
            }
            default -> throw new Refusal(Refusal.Reason.UNSUPPORTED_METHOD, x.method() + " is not supported on a blob");
        }
    }

    /** A blob path names a digest; a malformed one names a blob that cannot exist, which is not found (as in Distribution). */
    private static Digest readable(RepositoryName repository, String raw) {
        try {
            return PathParameters.digest(raw);
        } catch (Refusal invalid) {
            throw new Refusal(Refusal.Reason.BLOB_NOT_FOUND, "no blob " + ClientText.shortened(raw) + " in " + repository
                    + ": " + invalid.getMessage(), java.util.Map.of("digest", ClientText.shortened(raw)));
        }
    }

    private void get(Exchange x, RepositoryName repository, Digest digest) {
        RepositoryBlobs.ServableBlob blob = blobs.statBlob(repository, digest);
        if (redirectFor.isPresent() && !x.isHead()) {
            Optional<URI> direct = blobs.blobReadUrl(digest, redirectFor.get());
            if (direct.isPresent()) {
                // HEAD stays here (a presigned URL is for one method), and so does its answer: cheap, and what imports do.
                blobs.blobServed(blob, 0);
                x.header("Docker-Content-Digest", digest.toString()).header("Location", direct.get().toString());
                x.send(307);
                return;
            }
        }
        Optional<ByteRange> range;
        try {
            range = ByteRange.parse(x.header("Range"), blob.size());
        } catch (Refusal e) {
            x.header("Content-Range", "bytes */" + blob.size());
            throw e;
        }
        long offset = range.map(ByteRange::first).orElse(0L);
        long length = range.map(ByteRange::length).orElse(blob.size());
        InputStream content = x.isHead() ? InputStream.nullInputStream() : blobs.openBlob(repository, digest, offset);
        try {
            blobs.blobServed(blob, x.isHead() ? 0 : length);
        } catch (RuntimeException e) {
            closeQuietly(content);
            throw e;
        }
        // Only a successful answer says "immutable": an error must never be cached for a year.
        x.header("Docker-Content-Digest", digest.toString())
                .header("ETag", "\"" + digest + "\"")
                .header("Accept-Ranges", "bytes")
                .header("Cache-Control", "max-age=31536000, immutable");
        range.ifPresent(r -> x.header("Content-Range", r.contentRange(blob.size())));
        x.sendStream(range.isPresent() ? 206 : 200, "application/octet-stream", length, content);
    }

    private static void closeQuietly(InputStream content) {
        try {
            content.close();
        } catch (java.io.IOException e) {
            // nothing was sent from it; the error being answered matters more
        }
    }
}
