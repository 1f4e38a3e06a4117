package dev.cairn;

import dev.cairn.testing.OciClient;
import dev.cairn.testing.RawHttp;
import dev.cairn.testing.RunningCairn;
import org.junit.jupiter.api.Test;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSocket;
import java.io.IOException;
import java.net.Socket;
import java.util.HexFormat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Clients told {@code --tls-verify=false} try TLS first. On a plain-HTTP port the ClientHello must get
 * an HTTP 400 (so Go clients fall back to HTTP) and the server must keep serving.
 */
class TlsProbeTest {
    /** The first bytes of a real TLS 1.2 ClientHello record. */
    private static final byte[] CLIENT_HELLO_START = HexFormat.of().parseHex("160301" + "00a5" + "010000a1" + "0303");

    @Test
    void clientHelloGetsA400AndTheServerKeepsServing() throws Exception {
        try (RunningCairn cairn = RunningCairn.start()) {
            String answer = RawHttp.exchange(cairn.port(), CLIENT_HELLO_START);
            assertThat(answer).startsWith("HTTP/1.1 400");

            // a real TLS handshake fails on the client side, it does not hang or kill the server
            SSLContext tls = SSLContext.getInstance("TLS");
            tls.init(null, null, null);
            try (Socket plain = new Socket("127.0.0.1", cairn.port());
                 SSLSocket socket = (SSLSocket) tls.getSocketFactory().createSocket(plain, "127.0.0.1", cairn.port(), true)) {
                socket.setSoTimeout(5000);
                assertThatThrownBy(socket::startHandshake).isInstanceOf(SSLException.class);
            } catch (IOException expected) {
                // a reset also counts as "not TLS"
            }

            for (int i = 0; i < 3; i++) {
                assertThat(new OciClient(cairn).get("/v2/").statusCode()).isEqualTo(200);
            }
            String plainAnswer = RawHttp.get(cairn.port(), "/v2/");
            assertThat(plainAnswer).startsWith("HTTP/1.1 200");
        }
    }
}
