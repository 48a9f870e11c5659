"""Tools for developing and demonstrating Flows: throwaway database servers and the like."""
