package dev.cairn.http;

import org.eclipse.jetty.io.ByteBufferPool;
import org.eclipse.jetty.io.RetainableByteBuffer;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Blocker;

import java.io.IOException;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * Sends a region of a local file as the response body without copying it through the heap.
 *
 * <p>On Java 22 and later the file is mapped in windows ({@code FileChannel.map} into a shared {@code Arena})
 * and each window is handed to Jetty as a direct buffer: the kernel copies the page-cache pages straight into
 * the socket, as close to sendfile as Jetty allows; each window is unmapped as soon as it is written, so the
 * process never maps more than {@link #WINDOW} bytes per response (the unmapping, a handshake with every
 * thread, costs ~50 µs). Small bodies, and every body on Java 21 where that API is still a preview, are read
 * into one of Jetty's pooled direct buffers instead (a read system call more, no heap copy).
 * The mapping API is reached through method handles because Cairn is compiled for Java 21.
 */
final class FileSend {
    static final int WINDOW = 8 << 20;
    /** Up to this size a body is read rather than mapped: mapping and unmapping cost ~50 µs, a copy of 1 MiB ~100 µs. */
    private static final long MAP_THRESHOLD = 1 << 20;
    private static final int READ_BUFFER = 64 << 10;
    private static final MethodHandle OF_SHARED; // () -> Arena
    private static final MethodHandle MAP;       // (FileChannel, MapMode, long, long, Arena) -> MemorySegment
    private static final MethodHandle AS_BUFFER; // (MemorySegment) -> ByteBuffer

    static {
        MethodHandle ofShared = null, map = null, asBuffer = null;
        if (Runtime.version().feature() >= 22 && !Boolean.getBoolean("cairn.send.noMap")) {
            try {
                MethodHandles.Lookup lookup = MethodHandles.publicLookup();
                Class<?> arena = Class.forName("java.lang.foreign.Arena");
                Class<?> segment = Class.forName("java.lang.foreign.MemorySegment");
                ofShared = lookup.findStatic(arena, "ofShared", MethodType.methodType(arena));
                map = lookup.findVirtual(FileChannel.class, "map",
                        MethodType.methodType(segment, FileChannel.MapMode.class, long.class, long.class, arena));
                asBuffer = lookup.findVirtual(segment, "asByteBuffer", MethodType.methodType(ByteBuffer.class));
            } catch (ReflectiveOperationException | RuntimeException e) {
                ofShared = map = asBuffer = null;
            }
        }
        OF_SHARED = ofShared;
        MAP = map;
        AS_BUFFER = asBuffer;
    }

    private FileSend() {
    }

    /** Writes {@code length} bytes of {@code file} from {@code position} as the whole body; blocks until written. */
    static void send(Response response, FileChannel file, long position, long length) throws IOException {
        if (length == 0) {
            write(response, true, null);
        } else {
            sendRegion(response, file, position, length, true);
        }
    }

    /**
     * Writes the first {@code length} bytes of a file still being written (a mirror's blob as it arrives) as the whole
     * body, each region as soon as it may be read; blocks until written.
     */
    static void sendArriving(Response response, dev.cairn.mirror.BlobFetches.ArrivingFile file, long length) throws IOException {
        if (length == 0) {
            // nothing to send, but an empty body is whole only if the digest is the empty blob's: wait for the check
            if (file.readableTo(0) > 0) throw new IOException("a blob announced as empty has bytes");
            write(response, true, null);
            return;
        }
        long at = 0;
        while (at < length) {
            long to = file.readableTo(at);
            if (to < 0) throw new IOException("blob ended " + (length - at) + " bytes early");
            to = Math.min(to, length);
            sendRegion(response, file.channel(), at, to - at, to == length);
            at = to;
        }
    }

    /** Writes a region of the file, the body's last when {@code last}. */
    private static void sendRegion(Response response, FileChannel file, long position, long length, boolean last) throws IOException {
        if (MAP != null && length > MAP_THRESHOLD) {
            sendMapped(response, file, position, length, last);
        } else {
            sendRead(response, file, position, length, last);
        }
    }

    /** Reads into one of Jetty's pooled direct buffers and writes it, until done. */
    private static void sendRead(Response response, FileChannel file, long position, long length, boolean last) throws IOException {
        ByteBufferPool pool = response.getRequest().getComponents().getByteBufferPool();
        RetainableByteBuffer pooled = pool.acquire((int) Math.min(READ_BUFFER, length), true);
        try {
            ByteBuffer buffer = pooled.getByteBuffer();
            long at = position;
            long end = position + length;
            while (at < end) {
                buffer.clear().limit((int) Math.min(buffer.capacity(), end - at));
                int n = file.read(buffer, at);
                if (n < 0) throw new IOException("blob ended " + (end - at) + " bytes early");
                at += n;
                buffer.flip();
                write(response, last && at == end, buffer);
            }
        } finally {
            pooled.release();
        }
    }

    private static void sendMapped(Response response, FileChannel file, long position, long length, boolean last) throws IOException {
        long end = position + length;
        for (long at = position; at < end; ) {
            long size = Math.min(WINDOW, end - at);
            AutoCloseable arena = arena();
            try {
                ByteBuffer window = window(file, at, size, arena);
                write(response, last && at + size == end, window);
            } finally {
                close(arena); // only after the write completed: Jetty is done with the buffer
            }
            at += size;
        }
    }

    private static void write(Response response, boolean last, ByteBuffer buffer) throws IOException {
        try (Blocker.Callback written = Blocker.callback()) {
            response.write(last, buffer, written);
            written.block();
        }
    }

    private static AutoCloseable arena() throws IOException {
        try {
            return (AutoCloseable) OF_SHARED.invoke();
        } catch (Throwable e) {
            throw new IOException("cannot map the blob", e);
        }
    }

    private static ByteBuffer window(FileChannel file, long position, long size, AutoCloseable arena) throws IOException {
        try {
            return (ByteBuffer) AS_BUFFER.invoke(MAP.invoke(file, FileChannel.MapMode.READ_ONLY, position, size, arena));
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IOException("cannot map the blob", e);
        }
    }

    private static void close(AutoCloseable arena) throws IOException {
        try {
            arena.close();
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException(e);
        }
    }
}
