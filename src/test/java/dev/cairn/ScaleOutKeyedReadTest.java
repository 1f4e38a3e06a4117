package dev.cairn;

import com.google.protobuf.CodedOutputStream;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import dev.cairn.testing.SharedStore;
import dev.cairn.values.Digest;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Two nodes over S3 and PostgreSQL: a Bazel action result served by one node keeps its outputs while another
 * node collects under budget pressure moments later. The read is written at once (the batched use would
 * reach the database only with the node's next flush, after the other node's collection), so the other
 * node's LRU order sees it, and an entry read within the grace window is not evicted.
 */
class ScaleOutKeyedReadTest {

    @Test
    void anActionResultServedByOneNodeKeepsItsOutputsWhileAnotherNodeCollects() throws Exception {
        SharedStore store = SharedStore.fresh();
        List<RunningCairn> nodes = store.startNodes(2, Map.of("metadata.postgres.pool-size", "4", "retention.max-bytes", "3MiB",
                "retention.grace", "1s", "retention.gc-interval", "1h", "retention.untagged", "keep"));
        try {
            OciClient serving = new OciClient(nodes.get(0));
            OciClient collecting = new OciClient(nodes.get(1));
            List<byte[]> outputs = List.of(SeededBytes.of(300 << 10, 1), SeededBytes.of(300 << 10, 2), SeededBytes.of(300 << 10, 3));
            ByteArrayOutputStream result = new ByteArrayOutputStream();
            CodedOutputStream r = CodedOutputStream.newInstance(result);
            for (int i = 0; i < outputs.size(); i++) {
                assertThat(serving.put("/bazel/bz/cas/" + hex(outputs.get(i)), outputs.get(i)).statusCode()).isEqualTo(200);
                r.writeByteArray(2, outputFile("out" + i, outputs.get(i))); // ActionResult.output_files
            }
            r.flush();
            String action = hex("the action".getBytes());
            assertThat(serving.put("/bazel/bz/ac/" + action, result.toByteArray()).statusCode()).isEqualTo(200);
            Thread.sleep(2500); // all of it older than the grace window
            for (int i = 0; i < 6; i++) {
                assertThat(serving.put("/cache/other/k" + i, SeededBytes.of(300 << 10, 10 + i)).statusCode()).isEqualTo(201);
            }

            assertThat(serving.get("/bazel/bz/ac/" + action).statusCode()).as("the hit: Bazel fetches the outputs next").isEqualTo(200);
            assertThat(collecting.put("/cache/other/last", SeededBytes.of(300 << 10, 20)).statusCode()).isEqualTo(201);
            // Over the high watermark: the least recently used go, as far as they may (what was written or read
            // within the grace window stays until it has passed).
            nodes.get(1).node().keeper().collect(false);

            for (byte[] output : outputs) {
                assertThat(serving.get("/bazel/bz/cas/" + hex(output)).body()).as("an output of the result just served").isEqualTo(output);
            }
            assertThat(serving.get("/bazel/bz/ac/" + action).statusCode()).as("the result itself").isEqualTo(200);
        } finally {
            for (RunningCairn node : nodes) node.close();
            store.drop();
        }
    }

    private static String hex(byte[] content) {
        return Digest.sha256(content).hex();
    }

    /** OutputFile { path = 1; digest = 2 (Digest { hash = 1; size_bytes = 2 }) } */
    private static byte[] outputFile(String path, byte[] content) throws IOException {
        ByteArrayOutputStream digest = new ByteArrayOutputStream();
        CodedOutputStream d = CodedOutputStream.newInstance(digest);
        d.writeString(1, hex(content));
        d.writeInt64(2, content.length);
        d.flush();
        ByteArrayOutputStream file = new ByteArrayOutputStream();
        CodedOutputStream f = CodedOutputStream.newInstance(file);
        f.writeString(1, path);
        f.writeByteArray(2, digest.toByteArray());
        f.flush();
        return file.toByteArray();
    }
}
