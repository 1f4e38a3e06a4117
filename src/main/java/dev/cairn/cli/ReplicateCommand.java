package dev.cairn.cli;

import dev.cairn.http.RegistryClient;
import dev.cairn.transfer.Export;
import dev.cairn.transfer.Replication;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

/** {@code cairn replicate --from URL PATTERN...}: one round of copying another registry's repositories into Cairn. */
@Command(name = "replicate", mixinStandardHelpOptions = true,
        description = {"Copy the repositories and tags that match from another Cairn (or any OCI registry) into this one, once, "
                + "pulling only what is missing: what is up to date is skipped, an interrupted round run again copies the rest. "
                + "For rounds on a schedule, see 'replicate:' in the configuration."})
final class ReplicateCommand implements Callable<Integer> {
    @Mixin
    AdminApi api;

    @Option(names = "--from", required = true, paramLabel = "URL", description = "The registry to copy from: http(s)://host[:port].")
    String from;

    @Option(names = "--from-user", paramLabel = "USER", defaultValue = "${env:CAIRN_FROM_USER}",
            description = "A user of the source registry (default: $CAIRN_FROM_USER); the password comes from $CAIRN_FROM_PASSWORD.")
    String fromUser;

    @Parameters(arity = "1..*", paramLabel = "PATTERN",
            description = "REPO, REPO:TAG or REPO@DIGEST, globs as in the retention rules.")
    List<String> patterns;

    @Override
    public Integer call() {
        try {
            List<Export.Selector> selectors = patterns.stream().map(Export.Selector::parse).toList();
            RegistryClient source = new RegistryClient(from, Optional.ofNullable(fromUser), System.getenv().getOrDefault("CAIRN_FROM_PASSWORD", ""));
            ProgressDisplay progress = ProgressDisplay.onStandardError("copied");
            Replication.Report report;
            try {
                report = new Replication(source, api.registry(), System.out::println).meteredBy(progress).round(selectors);
            } finally {
                progress.finished();
            }
            System.out.printf("%d copied, %d up to date; %d blobs (%s) copied%n", report.copied(), report.upToDate(),
                    report.blobsCopied(), Reports.size(report.bytesCopied()));
            return 0;
        } catch (IOException | RuntimeException e) {
            System.err.println("cairn replicate: " + Reports.problem(e));
            return 1;
        }
    }
}
