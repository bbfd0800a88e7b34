"""The review side of facetcoder: corrections of a result, the review store (SQLAlchemy) with its audit
trail, the review queue over batch output, agreement figures and the export of corrected notes as gold
records. Everything here is plain Python so that it can be tested without the Streamlit app, which only
calls these functions.
"""
