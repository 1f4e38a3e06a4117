package dev.cairn.it;

import dev.cairn.testing.BaseImage;
import dev.cairn.testing.RunningCairn;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Cairn's core promise, shown with a real Debian build client: CI runners that share nothing but Cairn
 * share their layers. Runner A builds and leaves every step's layer in Cairn ({@code --cache-to}); a
 * runner with empty storage building the same Dockerfile takes every step from Cairn
 * ({@code --cache-from}) and runs none; a changed COPY input rebuilds from the COPY on, and only that.
 * Nothing comes from outside: the base image is made locally and pushed into Cairn first. Each runner
 * names its own Cairn address in FROM, {@code --cache-to} and {@code --cache-from}: one node by default,
 * or a node per runner where nodes share their stores ({@link ScaleOutBuildahRunnersIT}).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class RunnersShareLayerCacheContract {
    /**
     * The Cairn the runners share, and where each runner reaches it: one node answers them all, or each
     * runner goes through a node of its own (runner A "A", and so on) and the nodes share their stores.
     */
    interface SharedCache extends AutoCloseable {
        String hostPortFor(String runner);
    }

    private static final String CACHE_REPOSITORY = "cache/app";
    private static final String BASE_REPOSITORY = "base/busybox";
    /** RUN steps print {@code cairn-ran-NAME}, a line the echoed instruction itself never contains. */
    private static final List<String> RUNS_BEFORE_COPY = List.of("one", "two");
    private static final List<String> RUNS_AFTER_COPY = List.of("four", "five");
    private static final int COPY_STEP_INDEX = 3;

    private SharedCache cairn;
    private CiRunner.Build runnerA;

    abstract CiRunner.Client client();

    /** One Cairn node in this JVM that every runner uses. */
    SharedCache startCairn() throws Exception {
        RunningCairn node = RunningCairn.start();
        return new SharedCache() {
            @Override
            public String hostPortFor(String runner) {
                return node.hostPort();
            }

            @Override
            public void close() throws Exception {
                node.close();
            }
        };
    }

    /** More checks on how runner B, starting empty, got every step's layer; none by default. */
    void checkHowRunnerBGotItsLayers(CiRunner.Build runnerB) throws Exception {
    }

    @BeforeAll
    void runnerABuildsEveryStepAndLeavesItsLayersInCairn() throws Exception {
        cairn = startCairn();
        BaseImage.pushTo(cairn.hostPortFor("A"), BASE_REPOSITORY, "latest");

        try (CiRunner a = CiRunner.fresh(client(), "A")) {
            runnerA = a.build(a.checkout(context("A", "cairn-input-v1")), cache("A"));
        }
        assertThat(runnerA.steps()).as(runnerA.output()).hasSize(6);
        assertThat(runnerA.stepsAfterFrom()).as("runner A starts empty, so it runs every step:\n" + runnerA.output())
                .noneMatch(CiRunner.Step::usedCache);
        for (String run : all(RUNS_BEFORE_COPY, RUNS_AFTER_COPY)) {
            assertThat(runnerA.printedLine("cairn-ran-" + run)).as("runner A ran " + run + ":\n" + runnerA.output()).isTrue();
        }
    }

    @AfterAll
    void stopCairn() throws Exception {
        if (cairn != null) cairn.close();
    }

    @Test
    void aFreshRunnerTakesEveryStepFromCairnAndRunsNone() throws Exception {
        CiRunner.Build runnerB;
        try (CiRunner b = CiRunner.fresh(client(), "B")) {
            runnerB = b.build(b.checkout(context("B", "cairn-input-v1")), cache("B"));
        }
        System.out.println(client().displayName() + " runner A: " + runnerA.seconds() + ", runner B: " + runnerB.seconds());

        String log = "runner B's build:\n" + runnerB.output();
        assertThat(runnerB.steps()).as(log).hasSize(runnerA.steps().size());
        assertThat(runnerB.stepsAfterFrom()).as(log).allMatch(CiRunner.Step::usedCache);
        assertThat(runnerB.usingCacheLines()).as(log).isEqualTo(runnerB.stepsAfterFrom().size());
        for (String run : all(RUNS_BEFORE_COPY, RUNS_AFTER_COPY)) {
            assertThat(runnerB.printedLine("cairn-ran-" + run)).as("step " + run + " must not run again; " + log).isFalse();
        }
        // RUN date makes a layer no rebuild reproduces: the same image means A's layers, not a re-run
        assertThat(runnerB.imageId()).as(log).isEqualTo(runnerA.imageId());
        assertThat(runnerB.elapsed()).as("a build from cache is faster than the build that filled it").isLessThan(runnerA.elapsed());
        checkHowRunnerBGotItsLayers(runnerB);
    }

    @Test
    void aChangedCopyInputRebuildsFromTheCopyOnAndOnlyThat() throws Exception {
        CiRunner.Build runnerC;
        try (CiRunner c = CiRunner.fresh(client(), "C")) {
            runnerC = c.build(c.checkout(context("C", "cairn-input-v2")), cache("C"));
        }
        System.out.println(client().displayName() + " runner C (COPY input changed): " + runnerC.seconds());

        String log = "runner C's build:\n" + runnerC.output();
        List<CiRunner.Step> steps = runnerC.steps();
        assertThat(steps).as(log).hasSize(runnerA.steps().size());
        assertThat(steps.get(COPY_STEP_INDEX).instruction()).startsWith("COPY");
        assertThat(steps.subList(1, COPY_STEP_INDEX)).as("steps before the COPY come from Cairn; " + log)
                .allMatch(CiRunner.Step::usedCache);
        assertThat(steps.subList(COPY_STEP_INDEX, steps.size())).as("the COPY and the steps after it rebuild; " + log)
                .noneMatch(CiRunner.Step::usedCache);
        for (String run : RUNS_BEFORE_COPY) {
            assertThat(runnerC.printedLine("cairn-ran-" + run)).as("step " + run + " must not run again; " + log).isFalse();
        }
        for (String run : RUNS_AFTER_COPY) {
            assertThat(runnerC.printedLine("cairn-ran-" + run)).as("step " + run + " reruns; " + log).isTrue();
        }
        assertThat(runnerC.printedLine("saw: cairn-input-v2")).as("the rebuilt RUN sees the new input; " + log).isTrue();
        assertThat(runnerC.imageId()).isNotEqualTo(runnerA.imageId());
    }

    /** The same steps for every runner; only the address of the base image differs, the runner's own Cairn address. */
    private static String dockerfile(String hostPort) {
        return """
                FROM %s
                RUN n=one && echo "cairn-ran-$n" && sleep 2 && echo one > /one.txt
                RUN n=two && echo "cairn-ran-$n" && sleep 2 && mkdir -p /app && date > /app/built-at
                COPY input.txt /app/input.txt
                RUN n=four && echo "cairn-ran-$n" && sleep 2 && echo "saw: $(cat /app/input.txt)" && sha256sum /app/input.txt > /app/input.sum
                RUN n=five && echo "cairn-ran-$n" && sleep 1 && wc -c /app/input.txt > /app/input.size
                """.formatted(hostPort + "/" + BASE_REPOSITORY + ":latest");
    }

    /** The build context a runner checks out; its FROM names the base image at the runner's own Cairn address. */
    private Map<String, String> context(String runner, String input) {
        return Map.of("Dockerfile", dockerfile(cairn.hostPortFor(runner)), "input.txt", input + "\n");
    }

    private String cache(String runner) {
        return cairn.hostPortFor(runner) + "/" + CACHE_REPOSITORY;
    }

    private static List<String> all(List<String> first, List<String> second) {
        return java.util.stream.Stream.concat(first.stream(), second.stream()).toList();
    }
}
