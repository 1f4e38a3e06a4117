package dev.cairn.cli;

import dev.cairn.transfer.Export;
import dev.cairn.transfer.LayoutTarget;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

/** {@code cairn export PATTERN... -o DIR|FILE.tar}: repositories and tags as an OCI image layout. */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = {"Write the images and caches of the repositories and tags that match into an OCI image layout: a directory, "
                + "or a tar (.tar, .tar.gz/.tgz, .tar.zst), which 'cairn import', skopeo (oci:DIR:REPO:TAG) and umoci read.",
                "Each entry keeps its repository and tag in org.opencontainers.image.ref.name."})
final class ExportCommand implements Callable<Integer> {
    @Mixin
    AdminApi api;

    @Parameters(arity = "1..*", paramLabel = "PATTERN",
            description = "REPO (every tag), REPO:TAG or REPO@DIGEST; REPO and TAG may be globs as in the retention rules (team/**, cache/*:main-*).")
    List<String> patterns;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "DIR|FILE.tar",
            description = "A directory (new, empty, or a layout to add to) or a tar file, compressed by its suffix.")
    Path output;

    @Option(names = "--format", paramLabel = "oci|docker-archive", defaultValue = "oci",
            description = "docker-archive: also the manifest.json 'docker load' reads (of an index, the image for this machine's platform).")
    String format;

    @Option(names = "--since", paramLabel = "DURATION",
            description = "Only entries used within this long before now (7d, 12h): what builds have been reading lately.")
    String since;

    @Override
    public Integer call() {
        try {
            if (!format.equals("oci") && !format.equals("docker-archive")) {
                throw new IllegalArgumentException("--format takes oci or docker-archive, not " + format);
            }
            Optional<java.time.Instant> usedSince = Optional.ofNullable(since)
                    .map(d -> java.time.Instant.now().minus(dev.cairn.config.Quantities.parseDuration(d)));
            List<Export.Selector> selectors = patterns.stream().map(Export.Selector::parse).toList();
            Export.Report report;
            ProgressDisplay progress = ProgressDisplay.onStandardError("written");
            try (LayoutTarget target = LayoutTarget.create(output)) {
                var client = api.registry();
                Export export = new Export(client, target, format.equals("docker-archive"), usedSince, System.out::println).meteredBy(progress);
                // build-tool caches travel in OCI layouts; docker load takes images only
                if (format.equals("oci")) export.withKeyedCaches(client);
                report = export.run(selectors);
            } finally {
                progress.finished();
            }
            System.out.printf("%d entries, %s%d blobs (%s) written to %s%s%n", report.entries(),
                    report.keys() > 0 ? report.keys() + " build-tool cache keys, " : "", report.blobsWritten(),
                    Reports.size(report.bytesWritten()), output, report.blobsShared() > 0 ? ", " + report.blobsShared() + " shared between entries" : "");
            return 0;
        } catch (IOException | RuntimeException e) {
            System.err.println("cairn export: " + Reports.problem(e));
            return 1;
        }
    }
}
