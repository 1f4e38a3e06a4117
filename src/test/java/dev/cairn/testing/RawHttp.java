package dev.cairn.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * Sends bytes exactly as given over a fresh loopback connection and reads the answer until the
 * server closes or a timeout passes. For requests an HTTP client would tidy up (paths with '..',
 * encoded slashes) or would never send (a TLS ClientHello on a plain port).
 */
public final class RawHttp {
    private RawHttp() {
    }

    public static String exchange(int port, byte[] request) throws IOException {
        try (Socket socket = new Socket("127.0.0.1", port)) {
            socket.setSoTimeout(5_000);
            OutputStream out = socket.getOutputStream();
            out.write(request);
            out.flush();
            InputStream in = socket.getInputStream();
            ByteArrayOutputStream answer = new ByteArrayOutputStream();
            byte[] buffer = new byte[8192];
            try {
                int n;
                while ((n = in.read(buffer)) > 0) {
                    answer.write(buffer, 0, n);
                    if (isComplete(answer.toString(StandardCharsets.ISO_8859_1))) break;
                }
            } catch (java.net.SocketTimeoutException | java.net.SocketException e) {
                // the server closed or went quiet; what was read is the answer
            }
            return answer.toString(StandardCharsets.ISO_8859_1);
        }
    }

    /** A GET with {@code Connection: close}, path sent verbatim. */
    public static String get(int port, String rawPath) throws IOException {
        return exchange(port, ("GET " + rawPath + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .getBytes(StandardCharsets.ISO_8859_1));
    }

    public static String post(int port, String rawPath) throws IOException {
        return exchange(port, ("POST " + rawPath + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .getBytes(StandardCharsets.ISO_8859_1));
    }

    public static int status(String response) {
        if (!response.startsWith("HTTP/1.1 ")) throw new AssertionError("not an HTTP answer: " + response);
        return Integer.parseInt(response.substring(9, 12));
    }

    public static String body(String response) {
        int split = response.indexOf("\r\n\r\n");
        return split < 0 ? "" : response.substring(split + 4);
    }

    private static boolean isComplete(String text) {
        int split = text.indexOf("\r\n\r\n");
        if (split < 0) return false;
        String headers = text.substring(0, split).toLowerCase(java.util.Locale.ROOT);
        int at = headers.indexOf("content-length:");
        if (at < 0) return false;
        int end = headers.indexOf("\r\n", at);
        long length = Long.parseLong(headers.substring(at + 15, end < 0 ? headers.length() : end).strip());
        return text.length() - split - 4 >= length;
    }
}
