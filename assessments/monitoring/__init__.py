"""Production monitoring of deployed model versions (issue 8).

* ``validation``: the report a serving system sends, checked field by field (hostile input);
* ``services``: recording a window (in order, once per idempotency key), adding labels later, drift
  against the evaluation data (PSI per feature, reusing the dataset scan's drift code), fairness, and
  raising alerts that open risks in the register;
* ``notify``/``tasks``: the alert e-mail and the signed outgoing webhook;
* ``charts``: server-side SVG of drift, accuracy, selection-rate ratio and traffic over time.
"""
