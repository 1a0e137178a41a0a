"""Product data models (stdatamodels subclasses), their ASDF schemas and DQ flags.

Importing this package is cheap; `calpipe.core.models.products` pulls in
stdatamodels/astropy and is imported only where products are touched.
"""
