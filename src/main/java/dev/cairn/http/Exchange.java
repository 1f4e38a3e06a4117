package dev.cairn.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Fields;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/** One request and its response, with the blocking helpers the resources need (they run on virtual threads). */
final class Exchange {
    static final ObjectMapper JSON = new ObjectMapper();
    /** For blobs that are not local files (a remote store): bytes copied per write. */
    private static final int COPY_BUFFER = 64 << 10;
    /** The most of an unread body read and dropped before an early answer (a refused manifest, chunk or login)... */
    static final long DRAIN_LIMIT = 64L << 20;
    /** ...and the longest it is waited for: a client that sends slowly, or never finishes, holds nothing for long. */
    static final java.time.Duration DRAIN_TIME = java.time.Duration.ofSeconds(5);

    final Request request;
    final Response response;
    final Callback callback;
    private Fields query;
    /** Who is calling, once the gate has checked the credentials. */
    dev.cairn.auth.Gatekeeper.Caller caller = dev.cairn.auth.Gatekeeper.Caller.ANONYMOUS;

    Exchange(Request request, Response response, Callback callback) {
        this.request = request;
        this.response = response;
        this.callback = callback;
    }

    String method() {
        return request.getMethod();
    }

    boolean isHead() {
        return HttpMethod.HEAD.is(request.getMethod());
    }

    Optional<String> header(String name) {
        return Optional.ofNullable(request.getHeaders().get(name));
    }

    /** Every value of a header that may repeat or hold a comma-separated list (Accept). */
    List<String> headerValues(String name) {
        List<String> values = new ArrayList<>();
        for (HttpField field : request.getHeaders()) {
            if (field.is(name)) {
                for (String part : field.getValue().split(",")) {
                    if (!part.isBlank()) values.add(part.strip());
                }
            }
        }
        return values;
    }

    OptionalLong contentLength() {
        long length = request.getLength();
        return length >= 0 ? OptionalLong.of(length) : OptionalLong.empty();
    }

    Optional<String> query(String name) {
        if (query == null) {
            query = Request.extractQueryParameters(request);
        }
        return Optional.ofNullable(query.getValue(name));
    }

    /** The request body: an {@link InputStream} that blob stores can also read chunk by chunk ({@link dev.cairn.storage.ChunkedBody}). */
    InputStream body() {
        return new RequestBody(request, request.getLength());
    }

    /** The request body, refused with {@code overLimit}'s exception as soon as more than {@code limit} bytes arrive. */
    InputStream body(long limit, java.util.function.Supplier<? extends RuntimeException> overLimit) {
        return new RequestBody(request, request.getLength(), limit, overLimit);
    }

    /**
     * Before an early answer (an error sent while the request body is unread): the rest of the body is read
     * and dropped, up to {@link #DRAIN_LIMIT} bytes and for at most {@link #DRAIN_TIME}. A client that sends
     * its whole body before it reads (many do) would otherwise find the connection reset under it, as the
     * kernel resets a socket closed with unread bytes, and see a broken pipe instead of the answer; and the
     * connection stays usable. A longer or slower body is not worth waiting for, and a client that asked to
     * be told before it sends ({@code Expect: 100-continue}) has sent nothing: the answer then says the
     * connection closes. The drain holds no buffer of its own, only what the server already received.
     */
    void settleUnreadBody() {
        long length = request.getLength();
        if (length == 0) return;
        if (length < 0 && !request.getHeaders().contains(HttpHeader.TRANSFER_ENCODING)) return; // no body at all (GET, HEAD)
        boolean waitingToSend = request.getHeaders().contains(HttpHeader.EXPECT, "100-continue") && Request.getContentBytesRead(request) == 0;
        if (length <= DRAIN_LIMIT && !waitingToSend && drained()) return;
        response.getHeaders().put(HttpHeader.CONNECTION, "close");
    }

    /** Reads the rest of the body, dropping it; true when it ended within the byte and time bounds. */
    private boolean drained() {
        long deadline = System.nanoTime() + DRAIN_TIME.toNanos();
        long drained = 0;
        while (true) {
            Content.Chunk chunk = request.read();
            if (chunk == null) {
                long left = deadline - System.nanoTime();
                if (left <= 0) return false;
                java.util.concurrent.CountDownLatch more = new java.util.concurrent.CountDownLatch(1);
                request.demand(more::countDown);
                try {
                    if (!more.await(left, java.util.concurrent.TimeUnit.NANOSECONDS)) return false;
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
                continue;
            }
            try {
                if (Content.Chunk.isFailure(chunk)) return false;
                drained += chunk.remaining();
                if (drained > DRAIN_LIMIT) return false;
                if (chunk.isLast()) return true;
            } finally {
                chunk.release();
            }
        }
    }

    Exchange header(String name, String value) {
        response.getHeaders().put(name, value);
        return this;
    }

    /** A response with no content. */
    void send(int status) {
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, 0L);
        response.write(true, null, callback);
    }

    void sendJson(int status, String contentType, Object value) {
        byte[] body;
        try {
            body = JSON.writeValueAsBytes(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise a response", e);
        }
        sendBytes(status, contentType, body);
    }

    void sendBytes(int status, String contentType, byte[] body) {
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
        if (isHead()) {
            response.write(true, null, callback);
        } else {
            response.write(true, java.nio.ByteBuffer.wrap(body), callback);
        }
    }

    /** Writes a body of a length not known in advance (sent chunked). */
    interface BodyWriter {
        void writeTo(OutputStream out) throws IOException;
    }

    /** Sends what {@code body} writes as it writes it, in buffers of 16 KiB: a long listing is never held whole. */
    void sendWritten(int status, String contentType, BodyWriter body) {
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
        if (isHead()) {
            response.write(true, null, callback);
            return;
        }
        try (OutputStream out = new java.io.BufferedOutputStream(Content.Sink.asOutputStream(response), 16 * 1024)) {
            body.writeTo(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        callback.succeeded();
    }

    /**
     * Streams exactly {@code length} bytes from {@code in} (closed afterwards) as the body; blocks until written.
     * A blob on local disk ({@link dev.cairn.storage.LocalFileStream}) goes from the file to the socket without
     * passing through the heap ({@link FileSend}).
     */
    void sendStream(int status, String contentType, long length, InputStream in) {
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, length);
        try (in) {
            if (isHead()) {
                response.write(true, null, callback);
                return;
            }
            if (in instanceof dev.cairn.storage.LocalFileStream file) {
                FileSend.send(response, file.channel(), file.channel().position(), length);
                callback.succeeded();
                return;
            }
            if (in instanceof dev.cairn.mirror.BlobFetches.ArrivingFile arriving) {
                FileSend.sendArriving(response, arriving, length);
                callback.succeeded();
                return;
            }
            try (OutputStream out = Content.Sink.asOutputStream(response)) {
                byte[] buffer = new byte[(int) Math.min(COPY_BUFFER, Math.max(length, 1))];
                long remaining = length;
                while (remaining > 0) {
                    int n = in.read(buffer, 0, (int) Math.min(buffer.length, remaining));
                    if (n < 0) throw new IOException("blob ended " + remaining + " bytes early");
                    out.write(buffer, 0, n);
                    remaining -= n;
                }
            }
            callback.succeeded();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
