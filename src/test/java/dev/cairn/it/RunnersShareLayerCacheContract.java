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
 * Nothing comes from outside: the base image is made locally and pushed into Cairn first.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class RunnersShareLayerCacheContract {
    private static final String CACHE_REPOSITORY = "cache/app";
    /** RUN steps print {@code cairn-ran-NAME}, a line the echoed instruction itself never contains. */
    private static final List<String> RUNS_BEFORE_COPY = List.of("one", "two");
    private static final List<String> RUNS_AFTER_COPY = List.of("four", "five");
    private static final int COPY_STEP_INDEX = 3;

    private RunningCairn cairn;
    private String dockerfile;
    private CiRunner.Build runnerA;

    abstract CiRunner.Client client();

    @BeforeAll
    void runnerABuildsEveryStepAndLeavesItsLayersInCairn() throws Exception {
        cairn = RunningCairn.start();
        String base = BaseImage.pushTo(cairn.hostPort(), "base/busybox", "latest");
        dockerfile = """
                FROM %s
                RUN n=one && echo "cairn-ran-$n" && sleep 2 && echo one > /one.txt
                RUN n=two && echo "cairn-ran-$n" && sleep 2 && mkdir -p /app && date > /app/built-at
                COPY input.txt /app/input.txt
                RUN n=four && echo "cairn-ran-$n" && sleep 2 && echo "saw: $(cat /app/input.txt)" && sha256sum /app/input.txt > /app/input.sum
                RUN n=five && echo "cairn-ran-$n" && sleep 1 && wc -c /app/input.txt > /app/input.size
                """.formatted(base);

        try (CiRunner a = CiRunner.fresh(client(), "A")) {
            runnerA = a.build(a.checkout(context("cairn-input-v1")), cache());
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
            runnerB = b.build(b.checkout(context("cairn-input-v1")), cache());
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
    }

    @Test
    void aChangedCopyInputRebuildsFromTheCopyOnAndOnlyThat() throws Exception {
        CiRunner.Build runnerC;
        try (CiRunner c = CiRunner.fresh(client(), "C")) {
            runnerC = c.build(c.checkout(context("cairn-input-v2")), cache());
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

    private Map<String, String> context(String input) {
        return Map.of("Dockerfile", dockerfile, "input.txt", input + "\n");
    }

    private String cache() {
        return cairn.hostPort() + "/" + CACHE_REPOSITORY;
    }

    private static List<String> all(List<String> first, List<String> second) {
        return java.util.stream.Stream.concat(first.stream(), second.stream()).toList();
    }
}
