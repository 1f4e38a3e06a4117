package dev.cairn.cli;

import dev.cairn.transfer.Import;
import dev.cairn.transfer.LayoutArchive;
import dev.cairn.values.RepositoryName;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

/** {@code cairn import [--repo PREFIX] PATH...}: OCI image layouts into the registry. */
@Command(name = "import", mixinStandardHelpOptions = true,
        description = {"Push what OCI image layouts hold into Cairn: directories or tars (plain, gzip or zstd), as 'cairn export', "
                + "skopeo (oci:), umoci and BuildKit's --cache-to type=local write them.",
                "Everything is checked before anything is linked; blobs Cairn has are skipped, so an interrupted import run again sends only the rest."})
final class ImportCommand implements Callable<Integer> {
    @Mixin
    AdminApi api;

    @Parameters(arity = "1..*", paramLabel = "PATH", description = "An OCI image layout: a directory or a tar of one.")
    List<Path> paths;

    @Option(names = "--repo", paramLabel = "PREFIX",
            description = "Where entries named by a tag alone go (a BuildKit local cache's 'latest'); entries that name a repository go under it.")
    String repo;

    @Override
    public Integer call() {
        try {
            Optional<RepositoryName> prefix = Optional.ofNullable(repo).map(RepositoryName::of);
            var client = api.registry();
            Import importer = new Import(client, prefix, System.out::println).withKeyedCaches(client);
            for (Path path : paths) {
                ProgressDisplay progress = ProgressDisplay.onStandardError("sent");
                Import.Report report;
                try {
                    report = importer.meteredBy(progress).run(LayoutArchive.open(path));
                } finally {
                    progress.finished();
                }
                System.out.printf("%s: %d entries; %d blobs sent (%s), %d already there, %d mounted%s%n", path, report.entries(),
                        report.blobsSent(), Reports.size(report.bytesSent()), report.blobsPresent(), report.blobsMounted(),
                        report.keysWritten() + report.keysPresent() == 0 ? "" : "; " + report.keysWritten() + " build-tool cache keys written ("
                                + Reports.size(report.keyBytesSent()) + "), " + report.keysPresent() + " already there");
            }
            return 0;
        } catch (IOException | RuntimeException e) {
            System.err.println("cairn import: " + Reports.problem(e));
            return 1;
        }
    }
}
