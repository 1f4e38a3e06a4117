package dev.cairn.keyed;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.time.Instant;
import java.util.Map;

import static dev.cairn.testing.OciClient.errorCode;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Bazel's HTTP cache protocol: CAS blobs verified against their key; an action result accepted only once
 * the blobs it names (output files, the files of an output directory's tree, stdout) are in the CAS, and
 * then holding them, so that evicting the CAS keys takes none of its outputs; the action cache's hits
 * counted apart from the CAS's.
 */
class BazelCacheTest {

    @Test
    void casBlobsAreVerifiedAndAnActionResultHoldsEveryBlobItNames() throws Exception {
        try (RunningCairn cairn = RunningCairn.start(Map.of("retention.grace", "1s"))) {
            OciClient client = new OciClient(cairn);
            byte[] output = SeededBytes.of(5000, 1);
            byte[] stdout = "compiled\n".getBytes();
            byte[] treeFile = SeededBytes.of(300, 2);
            byte[] tree = tree(treeFile);
            byte[] wrong = SeededBytes.of(100, 3);

            assertThat(client.put(cas(hex(output)), wrong).statusCode()).as("bytes that are not the key's").isEqualTo(400);
            assertThat(errorCode(client.put(cas(hex(output)), wrong))).isEqualTo("DIGEST_INVALID");
            assertThat(client.put(cas("ABC"), output).statusCode()).as("not a SHA-256 key").isEqualTo(400);
            assertThat(client.put("/bazel/bz/other/" + hex(output), output).statusCode()).isEqualTo(404);
            assertThat(client.get(cas(hex(output))).statusCode()).isEqualTo(404);
            assertThat(client.get(cas(hex(new byte[0]))).statusCode()).as("the empty blob is always there").isEqualTo(200);

            byte[] result = actionResult(output, stdout, tree);
            String action = hex("the action".getBytes());
            assertThat(client.put(ac(action), result).statusCode()).as("its outputs are not uploaded yet").isEqualTo(400);
            assertThat(OciClient.text(client.put(ac(action), result))).contains("upload it first");
            for (byte[] blob : new byte[][]{output, stdout, tree}) assertThat(client.put(cas(hex(blob)), blob).statusCode()).isEqualTo(200);
            assertThat(client.put(ac(action), result).statusCode()).as("the tree's file is still missing").isEqualTo(400);
            assertThat(client.put(cas(hex(treeFile)), treeFile).statusCode()).isEqualTo(200);
            assertThat(client.put(ac(action), result).statusCode()).isEqualTo(200);
            assertThat(client.put(ac(hex("garbage".getBytes())), "not a protobuf \u0000\u00ff".getBytes()).statusCode()).isEqualTo(400);
            assertThat(client.get(ac(action)).body()).isEqualTo(result);

            // Every CAS key evicted: the outputs stay while the action result that names them does.
            EntryRecordsAccess.deleteCasKeys(cairn, output, stdout, tree, treeFile);
            Thread.sleep(1100);
            cairn.node().keeper().collect(false);
            assertThat(client.get(ac(action)).statusCode()).isEqualTo(200);
            for (byte[] blob : new byte[][]{output, stdout, tree, treeFile}) {
                assertThat(client.get(cas(hex(blob))).body()).as("held by the action result").isEqualTo(blob);
            }
            assertThat(client.get("/bazel/other/cas/" + hex(output)).statusCode()).as("not in another namespace").isEqualTo(404);

            JsonNode stats = OciClient.json(client.get("/api/v1/stats"));
            JsonNode actionCache = null;
            for (JsonNode n : stats.path("namespaces")) if (n.path("kind").asText().equals("bazel-ac")) actionCache = n;
            assertThat(actionCache).isNotNull();
            assertThat(actionCache.path("hits").asLong()).as("action-cache lookups only").isEqualTo(2);
            assertThat(actionCache.path("misses").asLong()).isZero();
        }
    }

    /** Deletes CAS keys as an eviction of them would (the records' own API), leaving action results alone. */
    private static final class EntryRecordsAccess {
        static void deleteCasKeys(RunningCairn cairn, byte[]... blobs) {
            for (byte[] blob : blobs) {
                assertThat(cairn.node().metadata().deleteEntry(BazelCache.CAS, RepositoryName.of("bz"), hex(blob), Instant.now())).isTrue();
            }
        }
    }

    private static String cas(String hash) {
        return "/bazel/bz/cas/" + hash;
    }

    private static String ac(String hash) {
        return "/bazel/bz/ac/" + hash;
    }

    private static String hex(byte[] content) {
        return Digest.sha256(content).hex();
    }

    /** Digest { hash = 1; size_bytes = 2 } */
    private static ByteString digest(byte[] content) throws IOException {
        return message(out -> {
            out.writeString(1, hex(content));
            out.writeInt64(2, content.length);
        });
    }

    /** ActionResult { output_files = 2 (OutputFile { path = 1; digest = 2 }); output_directories = 3 (OutputDirectory { path = 1; tree_digest = 3 }); exit_code = 4; stdout_digest = 6 } */
    private static byte[] actionResult(byte[] output, byte[] stdout, byte[] tree) throws IOException {
        ByteString file = message(out -> {
            out.writeString(1, "bazel-out/k8-fastbuild/bin/one.out");
            out.writeBytes(2, digest(output));
        });
        ByteString directory = message(out -> {
            out.writeString(1, "bazel-out/k8-fastbuild/bin/dir");
            out.writeBytes(3, digest(tree));
        });
        return message(out -> {
            out.writeBytes(2, file);
            out.writeBytes(3, directory);
            out.writeInt32(4, 0);
            out.writeBytes(6, digest(stdout));
        }).toByteArray();
    }

    /** Tree { root = 1 (Directory { files = 1 (FileNode { name = 1; digest = 2 }) }) } */
    private static byte[] tree(byte[] file) throws IOException {
        ByteString node = message(out -> {
            out.writeString(1, "inside.txt");
            out.writeBytes(2, digest(file));
        });
        ByteString root = message(out -> out.writeBytes(1, node));
        return message(out -> out.writeBytes(1, root)).toByteArray();
    }

    private interface Fields {
        void write(CodedOutputStream out) throws IOException;
    }

    private static ByteString message(Fields fields) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        CodedOutputStream out = CodedOutputStream.newInstance(bytes);
        fields.write(out);
        out.flush();
        return ByteString.copyFrom(bytes.toByteArray());
    }
}
