package dev.cairn.cli;

import dev.cairn.transfer.Export;
import dev.cairn.transfer.Warm;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.net.URI;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

/** {@code cairn warm --engine E}: the images builds used most lately, pulled into this host's engine. */
@Command(name = "warm", mixinStandardHelpOptions = true,
        description = {"Ready a host before it takes jobs: pull the images builds used most lately in Cairn (ranked by last use) into "
                + "its docker, podman or buildah storage, so its first builds find them locally. Prints what it will pull and the "
                + "total first. Build caches that are not images are left to be read from Cairn at build time."})
final class WarmCommand implements Callable<Integer> {
    @Mixin
    AdminApi api;

    @Option(names = "--engine", required = true, paramLabel = "docker|podman|buildah",
            description = "Whose storage to fill: docker (the daemon DOCKER_HOST names), podman or buildah (containers-storage, as "
                    + "storage.conf or CONTAINERS_STORAGE_CONF choose it).")
    String engine;

    @Option(names = "--top", defaultValue = "20", paramLabel = "N", description = "How many images at most (default 20).")
    int top;

    @Option(names = "--since", paramLabel = "DURATION", description = "Only images used within this long before now (7d, 12h).")
    String since;

    @Option(names = "--dry-run", description = "Print what would be pulled and stop.")
    boolean dryRun;

    @Option(names = "--pull-host", paramLabel = "HOST[:PORT]",
            description = "The name the engine reaches Cairn by, when it is not --server's (a load balancer's, say).")
    String pullHost;

    @Parameters(arity = "0..*", paramLabel = "PATTERN",
            description = "REPO, REPO:TAG or REPO@DIGEST, globs as in the retention rules (default: every repository).")
    List<String> patterns;

    @Override
    public Integer call() {
        try {
            Warm.Engine chosen = Warm.Engine.parse(engine);
            if (top <= 0) throw new IllegalArgumentException("--top must be at least 1");
            Optional<Instant> usedSince = Optional.ofNullable(since)
                    .map(d -> Instant.now().minus(dev.cairn.config.Quantities.parseDuration(d)));
            List<Export.Selector> selectors = (patterns == null || patterns.isEmpty() ? List.of("**") : patterns).stream()
                    .map(Export.Selector::parse).toList();
            Warm warm = new Warm(api.registry(), System.out::println);
            List<Warm.Candidate> images = warm.plan(selectors, top, usedSince);
            long total = 0;
            for (Warm.Candidate image : images) {
                System.out.printf("  %-60s %10s  last used %s%n", image.name(), Reports.size(image.bytes()), image.lastUsed());
                total += image.bytes();
            }
            System.out.printf("%d images, %s in all, into %s%s%n", images.size(), Reports.size(total), chosen.name().toLowerCase(java.util.Locale.ROOT),
                    dryRun ? " (dry run: nothing pulled)" : "");
            if (dryRun || images.isEmpty()) return 0;
            URI server = URI.create(api.server);
            String host = pullHost != null ? pullHost : server.getAuthority();
            int failed = warm.pull(images, chosen, host, "http".equals(server.getScheme()));
            if (failed > 0) {
                System.err.println("cairn warm: " + failed + " of " + images.size() + " pulls failed");
                return 1;
            }
            return 0;
        } catch (IOException | RuntimeException e) {
            System.err.println("cairn warm: " + Reports.problem(e));
            return 1;
        }
    }
}
