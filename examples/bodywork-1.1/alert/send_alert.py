"""Runs only when the pipeline fails (pipeline.run_on_failure)."""

if __name__ == "__main__":
    print("the pipeline failed - this is where a team would be alerted")
