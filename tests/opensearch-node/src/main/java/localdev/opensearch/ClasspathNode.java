package localdev.opensearch;

import org.opensearch.env.Environment;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;

import java.util.Collection;

/**
 * A Node whose plugins come from the classpath instead of the modules/ and plugins/ directories. OpenSearch's
 * Node has a protected constructor for exactly this (the test framework's MockNode uses it, plus mocks).
 */
public class ClasspathNode extends Node {

    public ClasspathNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
        // forbidPrivateIndexSettings = true, as in a normal node
        super(environment, plugins, true);
    }
}
