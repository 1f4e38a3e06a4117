package dev.cairn;

import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What a kill -9 right after a chunk's 202 can leave (the chunk's last bytes were still being written):
 * a session file shorter than the client was told. Made here exactly, by cutting the file while the node
 * is down; CrashSafetyIT kills a real process at that moment. The client's next chunk is told the
 * session's true Range, it resends from there, and the blob it finishes is exact.
 */
class UploadResumeTest {
    @Test
    void aSessionShorterThanTheClientWasToldAnswersItsTrueRangeAndTheResentBlobIsExact() throws Exception {
        byte[] blob = SeededBytes.of(6 << 20, 21);
        int told = 4 << 20;
        int durable = 3 << 20; // the writer had a MiB left when the process died
        try (RunningCairn cairn = RunningCairn.start()) {
            OciClient client = new OciClient(cairn);
            HttpResponse<byte[]> opened = client.post("/v2/resume/app/blobs/uploads/", new byte[0]);
            String location = opened.headers().firstValue("Location").orElseThrow();
            String path = URI.create(location).isAbsolute() ? URI.create(location).getRawPath() : location;
            String id = path.substring(path.lastIndexOf('/') + 1).split("\\?")[0];
            HttpResponse<byte[]> accepted = client.patch(path, Arrays.copyOfRange(blob, 0, told), "Content-Range", "0-" + (told - 1),
                    "Content-Type", "application/octet-stream");
            assertThat(accepted.headers().firstValue("Range")).hasValue("0-" + (told - 1));

            // the node goes down; its session file then loses what was not yet written
            cairn.restart(() -> {
                try (FileChannel file = FileChannel.open(cairn.dataDir().resolve("uploads").resolve(id), StandardOpenOption.WRITE)) {
                    file.truncate(durable);
                }
            });

            HttpResponse<byte[]> next = client.patch(path, Arrays.copyOfRange(blob, told, blob.length),
                    "Content-Range", told + "-" + (blob.length - 1), "Content-Type", "application/octet-stream");
            assertThat(next.statusCode()).isEqualTo(416);
            assertThat(next.headers().firstValue("Range")).as("where the session really ends").hasValue("0-" + (durable - 1));
            assertThat(next.headers().firstValue("Location")).isPresent();
            HttpResponse<byte[]> resent = client.patch(path, Arrays.copyOfRange(blob, durable, blob.length),
                    "Content-Range", durable + "-" + (blob.length - 1), "Content-Type", "application/octet-stream");
            assertThat(resent.statusCode()).isEqualTo(202);
            String sep = path.contains("?") ? "&" : "?";
            assertThat(client.put(path + sep + "digest=" + OciClient.sha256(blob), new byte[0]).statusCode()).isEqualTo(201);
            assertThat(client.get("/v2/resume/app/blobs/" + OciClient.sha256(blob)).body()).isEqualTo(blob);
        }
    }
}
