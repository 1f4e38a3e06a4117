package dev.cairn.cli;

import dev.cairn.http.RegistryClient;
import dev.cairn.testing.CairnCli;
import dev.cairn.testing.OciClient;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.SeededBytes;
import dev.cairn.transfer.Import;
import dev.cairn.transfer.KeyedCaches;
import dev.cairn.transfer.LayoutArchive;
import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * An import's small key writes (several at once): a small key's write that ends in an Error (an OutOfMemoryError in a writer
 * thread, say) is neither recorded as the import's failure nor rethrown: the import reports every key written,
 * the CLI would exit 0, and the key that was never written is backdated besides.
 */
class KeyedImportWriterFailureTest {

    @Test
    void aSmallWriteEndedByAnErrorFailsTheImport(@TempDir Path work) throws Exception {
        try (RunningCairn source = RunningCairn.start(); RunningCairn target = RunningCairn.start()) {
            OciClient c = new OciClient(source);
            for (int i = 0; i < 6; i++) assertThat(c.put("/cache/ccache/k/" + i, SeededBytes.of(2_000, 40 + i)).statusCode()).isEqualTo(201);
            Path archive = work.resolve("keys");
            CairnCli.Run export = CairnCli.run("export", "--server", "http://" + source.hostPort(), "ccache", "-o", archive.toString());
            assertThat(export.exit()).as(export.err()).isZero();

            RegistryClient client = new RegistryClient("http://" + target.hostPort(), Optional.empty(), "");
            KeyedCaches failingOne = new KeyedCaches() {
                public List<Namespace> namespaces() throws IOException { return client.namespaces(); }
                public List<Entry> entries(String kind, RepositoryName namespace, String after) throws IOException { return client.entries(kind, namespace, after); }
                public Optional<InputStream> blob(String kind, RepositoryName namespace, Digest digest) throws IOException { return client.blob(kind, namespace, digest); }
                public Map<String, Digest> present(String kind, RepositoryName namespace, Collection<String> keys) throws IOException { return client.present(kind, namespace, keys); }
                public boolean writes(String kind) { return client.writes(kind); }
                public int backdate(String kind, RepositoryName namespace, List<KeyTimes> times) throws IOException { return client.backdate(kind, namespace, times); }
                public void put(String kind, RepositoryName namespace, Entry entry, InputStream body) throws IOException {
                    if (entry.key().equals("k/3")) throw new OutOfMemoryError("test: the heap ran out while k/3 was sent");
                    client.put(kind, namespace, entry, body);
                }
            };
            Throwable thrown = null;
            Import.Report report = null;
            try {
                report = new Import(client, Optional.empty(), s -> { }).withKeyedCaches(failingOne).run(LayoutArchive.open(archive));
            } catch (Throwable t) {
                thrown = t;
            }
            assertThat(new OciClient(target).get("/cache/ccache/k/3").statusCode()).as("k/3 was never written").isEqualTo(404);
            assertThat(thrown).as("an import that left k/3 out must fail, yet it reported " + (report == null ? "-" : report.keysWritten())
                    + " keys written").isNotNull();
        }
    }
}
