package dev.cairn.testing;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * Base for spec tests that share one node per class: a real Cairn on a loopback port, started before
 * the first test and stopped after the last. Subclasses add their own {@code @BeforeAll} fixtures,
 * which JUnit runs after this one. The node's storage and metadata follow {@code -Dcairn.test.backend}
 * ({@link TestBackend}), so the same spec classes run against the embedded and the s3-postgres backend.
 */
public abstract class OneCairnPerClass {
    protected static RunningCairn cairn;
    protected static OciClient client;

    @BeforeAll
    static void startCairn() throws Exception {
        cairn = RunningCairn.start();
        client = new OciClient(cairn);
    }

    @AfterAll
    static void stopCairn() throws Exception {
        cairn.close();
    }
}
