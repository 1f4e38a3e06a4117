package dev.cairn.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.concurrent.Callable;

/** {@code cairn invalidate REPO_GLOB [--tag GLOB] [--older-than DURATION] [--dry-run]}. */
@Command(name = "invalidate", mixinStandardHelpOptions = true,
        description = "Evict cache entries at once, so the next build misses and rebuilds them.")
final class InvalidateCommand implements Callable<Integer> {
    @Mixin
    AdminApi api;

    @Parameters(paramLabel = "REPO_GLOB", description = "Repositories, e.g. 'cache/**' or 'cache/app'.")
    String repositories;

    @Option(names = "--tag", paramLabel = "GLOB", description = "Only entries with a matching tag.")
    String tag;

    @Option(names = "--older-than", paramLabel = "DURATION", description = "Only entries pushed longer ago than this (e.g. 2h, 7d).")
    String olderThan;

    @Option(names = "--dry-run", description = "Delete nothing; print what would go.")
    boolean dryRun;

    @Override
    public Integer call() {
        ObjectNode request = AdminApi.json().createObjectNode().put("repositories", repositories).put("dryRun", dryRun);
        if (tag != null) request.put("tag", tag);
        if (olderThan != null) request.put("olderThan", olderThan);
        try {
            JsonNode report = api.call("POST", "/api/v1/invalidate", request.toString());
            Reports.print(report, dryRun ? "would invalidate" : "invalidated");
            return 0;
        } catch (AdminApi.AdminApiException e) {
            System.err.println("cairn invalidate: " + e.getMessage());
            return 1;
        }
    }
}
