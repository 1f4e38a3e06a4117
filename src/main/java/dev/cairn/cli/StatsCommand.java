package dev.cairn.cli;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.util.concurrent.Callable;

/** {@code cairn stats}: per repository manifests, tags, bytes, last use, hits and misses; per keyed-cache namespace its traffic and hit ratios. */
@Command(name = "stats", mixinStandardHelpOptions = true, description = "Print what a running Cairn holds, per repository.")
final class StatsCommand implements Callable<Integer> {
    @Mixin
    AdminApi api;

    @Override
    public Integer call() {
        try {
            JsonNode stats = api.call("GET", "/api/v1/stats", null);
            System.out.printf("stored %s of a %s budget%n", Reports.size(stats.path("storedBytes").asLong()),
                    Reports.size(stats.path("budgetBytes").asLong()));
            JsonNode collector = stats.path("collector");
            if (collector.path("state").asText().equals("failing")) {
                System.out.printf("collector FAILING since %s (%d runs in a row; the budget is not being kept): %s%n",
                        collector.path("failingSince").asText(), collector.path("failuresInARow").asLong(), collector.path("lastError").asText());
            }
            System.out.printf("%-40s %9s %6s %10s %8s %8s  %s%n", "REPOSITORY", "MANIFESTS", "TAGS", "BYTES", "HITS", "MISSES", "LAST USE");
            for (JsonNode r : stats.path("repositories")) {
                System.out.printf("%-40s %9d %6d %10s %8d %8d  %s%n", r.path("repository").asText(), r.path("manifests").asLong(),
                        r.path("tags").asLong(), Reports.size(r.path("bytes").asLong()), r.path("hits").asLong(), r.path("misses").asLong(),
                        r.path("lastUse").isNull() ? "-" : r.path("lastUse").asText());
            }
            if (!stats.path("namespaces").isEmpty()) {
                System.out.printf("%n%-12s %-27s %9s %10s %8s %8s %6s %6s %9s  %s%n", "KIND", "NAMESPACE", "KEYS", "BYTES", "HITS", "MISSES",
                        "HIT%", "BYTE%", "SAVED", "LAST USE");
                for (JsonNode n : stats.path("namespaces")) {
                    System.out.printf("%-12s %-27s %9d %10s %8d %8d %6s %6s %9s  %s%n", n.path("kind").asText(), n.path("namespace").asText(),
                            n.path("keys").asLong(), Reports.size(n.path("bytes").asLong()), n.path("hits").asLong(), n.path("misses").asLong(),
                            percent(n.path("hitRatio")), percent(n.path("byteHitRatio")), String.format("%.0fs", n.path("savedSeconds").asDouble()),
                            n.path("lastUse").isNull() ? "-" : n.path("lastUse").asText());
                }
            }
            return 0;
        } catch (AdminApi.AdminApiException e) {
            System.err.println("cairn stats: " + e.getMessage());
            return 1;
        }
    }

    private static String percent(JsonNode ratio) {
        return ratio.isNumber() ? String.format("%.0f%%", ratio.asDouble() * 100) : "-";
    }
}
