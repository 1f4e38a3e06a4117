package dev.cairn.http;

import dev.cairn.values.Refusal;
import dev.cairn.values.Digest;
import dev.cairn.registry.RepositoryBlobs;
import dev.cairn.registry.UploadSessions;
import dev.cairn.values.RepositoryName;
import dev.cairn.registry.UploadRangeException;
import dev.cairn.registry.UploadState;
import dev.cairn.storage.BlobInfo;

import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Blob uploads: {@code POST /v2/<name>/blobs/uploads/} (end-4a, end-4b, end-11) and
 * {@code GET|PATCH|PUT|DELETE /v2/<name>/blobs/uploads/<id>} (end-13, end-5, end-6).
 */
final class UploadResource {
    /** {@code start-end}, as the spec writes it; {@code bytes start-end} and {@code bytes=start-end} as some clients do. */
    private static final Pattern CONTENT_RANGE = Pattern.compile("(?:bytes[ =])?(\\d+)-(\\d+)(?:/(?:\\d+|\\*))?");

    private final RepositoryBlobs blobs;
    private final UploadSessions uploads;
    private final AccessGate gate;

    UploadResource(RepositoryBlobs blobs, UploadSessions uploads, AccessGate gate) {
        this.blobs = blobs;
        this.uploads = uploads;
        this.gate = gate;
    }

    void start(Exchange x, OciRoute route) {
        if (!x.method().equals("POST")) {
            throw new Refusal(Refusal.Reason.UNSUPPORTED_METHOD, x.method() + " is not supported on the uploads endpoint");
        }
        RepositoryName repository = PathParameters.repository(route.name());
        Optional<String> mount = x.query("mount");
        if (mount.isPresent()) {
            // Mounting reads the source: without pull rights there, the client uploads as if it had no mount.
            Optional<String> from = x.query("from").filter(f -> gate.mayPull(x.caller, f));
            Optional<BlobInfo> mounted = mount(repository, mount.get(), from);
            if (mounted.isPresent()) {
                created(x, repository, mounted.get().digest());
                return;
            }
        }
        Optional<String> digest = x.query("digest");
        if (digest.isPresent()) {
            BlobInfo blob = blobs.putBlob(repository, Digest.parse(digest.get()), x.body());
            created(x, repository, blob.digest());
            return;
        }
        sendState(x, 202, uploads.startUpload(repository, owner(x)));
    }

    /** Whose session this is, for the bound on open sessions: the user, or an anonymous client's address. */
    private String owner(Exchange x) {
        return x.caller.identity().anonymous() ? "address " + gate.source(x.request) : "user " + x.caller.identity().user();
    }

    /** A mount the spec says to fall back from (bad digest, bad or unknown source) answers empty. */
    private Optional<BlobInfo> mount(RepositoryName repository, String digest, Optional<String> from) {
        if (from.isEmpty()) return Optional.empty();
        try {
            return blobs.mount(repository, Digest.parse(digest), RepositoryName.of(from.get()));
        } catch (Refusal e) {
            return Optional.empty();
        }
    }

    void handle(Exchange x, OciRoute route) {
        RepositoryName repository = PathParameters.repository(route.name());
        String id = PathParameters.decode(route.argument());
        switch (x.method()) {
            case "GET" -> sendState(x, 204, uploads.uploadStatus(repository, id));
            case "PATCH" -> sendState(x, 202, uploads.appendChunk(repository, id, chunkStart(x, repository, id), x.body()));
            case "PUT" -> {
                Digest digest = Digest.parse(x.query("digest").orElseThrow(() ->
                        new Refusal(Refusal.Reason.INVALID_DIGEST, "the digest query parameter is required to finish an upload")));
                BlobInfo blob = uploads.finishUpload(repository, id, digest, chunkStart(x, repository, id), x.body());
                created(x, repository, blob.digest());
            }
            case "DELETE" -> {
                uploads.cancelUpload(repository, id);
                x.send(204);
            }
            default -> throw new Refusal(Refusal.Reason.UNSUPPORTED_METHOD, x.method() + " is not supported on an upload");
        }
    }

    /**
     * Where the chunk says it starts. A Content-Range that is malformed, or whose length disagrees with
     * Content-Length, is a 416 like an out-of-order chunk; without one the chunk is appended as it streams.
     */
    private OptionalLong chunkStart(Exchange x, RepositoryName repository, String id) {
        Optional<String> header = x.header("Content-Range");
        if (header.isEmpty()) return OptionalLong.empty();
        Matcher m = CONTENT_RANGE.matcher(header.get().strip());
        if (!m.matches() || m.group(1).length() > 18 || m.group(2).length() > 18) {
            throw badRange(repository, id, "malformed Content-Range: " + header.get());
        }
        long start = Long.parseLong(m.group(1));
        long end = Long.parseLong(m.group(2));
        OptionalLong length = x.contentLength();
        if (end < start || (length.isPresent() && length.getAsLong() != end - start + 1)) {
            throw badRange(repository, id, "Content-Range " + header.get() + " does not match Content-Length "
                    + (length.isPresent() ? length.getAsLong() : "(chunked)"));
        }
        return OptionalLong.of(start);
    }

    /** The spec answers a bad Content-Range with 416 and the upload's current state (unknown sessions still 404). */
    private UploadRangeException badRange(RepositoryName repository, String id, String message) {
        return new UploadRangeException(id, uploads.uploadStatus(repository, id).size(), message);
    }

    static String location(UploadState state) {
        return "/v2/" + state.repository() + "/blobs/uploads/" + state.id();
    }

    /** The spec's upload answer: where to send the next request and what the server holds so far. */
    static void sendState(Exchange x, int status, UploadState state) {
        x.header("Location", location(state))
                .header("Range", "0-" + Math.max(0, state.size() - 1))
                .header("Docker-Upload-UUID", state.id())
                .header("Blob-Upload-Session-ID", state.id())
                .send(status);
    }

    private static void created(Exchange x, RepositoryName repository, Digest digest) {
        x.header("Location", "/v2/" + repository + "/blobs/" + digest)
                .header("Docker-Content-Digest", digest.toString())
                .send(201);
    }
}
